//go:build !linux

package main

import "syscall"

// childAttr has nothing to add where the parent's death cannot be passed
// on to the worker processes; the soak stops them itself on the way out.
func childAttr() *syscall.SysProcAttr { return nil }
