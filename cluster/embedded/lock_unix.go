//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// dataDirFree reports an error when another process holds the embedded
// etcd's database in dir (another twostepd, or an etcd, with the same
// data_dir): etcd itself would wait for the lock for ever, before its
// start-up deadline begins, saying nothing. The lock is only tested:
// etcd takes it right after.
func dataDirFree(dir string) error {
	db := filepath.Join(dir, "member", "snap", "db")
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new member
	}
	if err != nil {
		return fmt.Errorf("cluster: embedded etcd database %s: %w", db, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("cluster: embedded etcd data_dir %s is in use by another process (another twostepd or etcd with the same data_dir?): give each its own", dir)
		}
		return fmt.Errorf("cluster: embedded etcd database %s: lock: %w", db, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
