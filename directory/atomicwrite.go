package directory

import (
	"io/fs"
	"os"
	"path/filepath"
)

// writeAtomic replaces path with data: it writes a temporary file in the
// same directory (so rename stays on one file system), gives it the mode and
// owner of the file it replaces, syncs it and renames it over path. Readers
// see the old file or the new one, never a part.
func writeAtomic(path string, data []byte, mode fs.FileMode, owner fileOwner) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = owner.apply(tmp); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes the rename durable. It is best effort: some systems cannot
// sync a directory, and the new file is complete either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
