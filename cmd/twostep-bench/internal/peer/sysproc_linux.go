package peer

import "syscall"

// sysProcAttr puts a server in its own process group, killed if the run
// dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
