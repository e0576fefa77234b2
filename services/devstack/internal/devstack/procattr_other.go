//go:build !unix

package devstack

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
