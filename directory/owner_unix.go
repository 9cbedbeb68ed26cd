//go:build unix

package directory

import (
	"fmt"
	"os"
	"syscall"
)

// fileOwner is the owner of a file being replaced. The daemon often runs as
// its own user while admins edit as root: a new file owned by root with mode
// 0600 would lock the daemon out, so the owner is kept.
type fileOwner struct {
	uid, gid int
	known    bool
}

func ownerOf(info os.FileInfo) fileOwner {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileOwner{uid: int(st.Uid), gid: int(st.Gid), known: true}
	}
	return fileOwner{}
}

// apply gives f the owner, if it differs. Only root can give a file away,
// so another user editing a file it does not own is refused rather than
// leaving a file the daemon may not read.
func (o fileOwner) apply(f *os.File) error {
	if !o.known {
		return nil
	}
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if now := ownerOf(info); now.uid == o.uid && now.gid == o.gid {
		return nil
	}
	if err := f.Chown(o.uid, o.gid); err != nil {
		return fmt.Errorf("keep the owner %d:%d of the users file: %w", o.uid, o.gid, err)
	}
	return nil
}
