package devstack

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portOwner returns the process listening where addr would, or 0 when it
// cannot be found: the socket's inode from /proc/net/tcp{,6}, then the
// process with a descriptor on it. Another user's process cannot be
// looked into, so it stays unnamed.
func portOwner(addr string) (pid int, command string) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return 0, ""
	}
	want, _ := netip.AddrFromSlice(ta.IP)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(f, want.Unmap(), ta.Port, inodes)
	}
	if len(inodes) == 0 {
		return 0, ""
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, ""
	}
	for _, p := range procs {
		n, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if err != nil {
				continue
			}
			if in, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(in, "]")] {
				b, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				return n, strings.TrimSpace(string(b))
			}
		}
	}
	return 0, ""
}

// listeningInodes adds to inodes those of the sockets in the table file
// listening on port at an address that conflicts with want: the same one,
// or either of them unspecified (an invalid want is unspecified too).
func listeningInodes(file string, want netip.Addr, port int, inodes map[string]bool) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		const listen = "0A"
		if len(fields) < 10 || fields[3] != listen || fields[9] == "0" {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(p) != port {
			continue
		}
		got, ok := procNetAddr(hexAddr)
		if !ok {
			continue
		}
		if !want.IsValid() || want.IsUnspecified() || got.IsUnspecified() || got == want {
			inodes[fields[9]] = true
		}
	}
}

// procNetAddr decodes an address of /proc/net/tcp{,6}: 32-bit words in
// the kernel's byte order, each printed as a hexadecimal number.
func procNetAddr(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	for i := 0; i < len(b); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(b[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return a.Unmap(), true
}
