package source

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// specialFS names the kernel file system f is on when it is one whose
// files are the kernel's (process and system state, control files), or "".
func specialFS(f *os.File) string {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return ""
	}
	switch int64(st.Type) {
	case unix.PROC_SUPER_MAGIC:
		return "procfs"
	case unix.SYSFS_MAGIC:
		return "sysfs"
	case unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC:
		return "cgroupfs"
	case unix.DEBUGFS_MAGIC, unix.TRACEFS_MAGIC, unix.SECURITYFS_MAGIC, unix.BPF_FS_MAGIC,
		unix.EFIVARFS_MAGIC, unix.DEVPTS_SUPER_MAGIC:
		return "a kernel file system"
	}
	return ""
}

// openedPath is where the file f really is, as the kernel resolved it when
// it was opened; "" when that cannot be told.
func openedPath(f *os.File) string {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || len(p) == 0 || p[0] != '/' {
		return ""
	}
	return p
}
