//go:build !linux

package devstack

// portOwner finds no process: only Linux's /proc is searched. The error
// still names the address and the flag that sets it.
func portOwner(string) (pid int, command string) { return 0, "" }
