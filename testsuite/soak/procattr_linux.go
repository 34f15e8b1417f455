package main

import "syscall"

// childAttr makes a worker process die with the soak, so that a soak
// killed outright leaves no worker polling a server that is gone.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
