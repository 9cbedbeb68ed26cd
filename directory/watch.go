package directory

import (
	"context"
	"fmt"
	"os"
	"time"
)

// fileStamp identifies a version of a file by what stat tells: which file
// (device and inode, changed by an atomic rename), its size and its mtime.
type fileStamp struct {
	info os.FileInfo
}

func statFile(path string) (fileStamp, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{info: info}, nil
}

func (s fileStamp) same(o fileStamp) bool {
	if s.info == nil || o.info == nil {
		return s.info == nil && o.info == nil
	}
	return os.SameFile(s.info, o.info) && s.info.Size() == o.info.Size() && s.info.ModTime().Equal(o.info.ModTime())
}

// Watch polls the file every interval and reloads it when it changed (a new
// inode, size or mtime), so that `twostepctl user add` takes effect in a
// running daemon. It returns when ctx ends; an interval of zero or less
// means never, and Watch returns at once.
//
// A refused file is reported to onErr (which may be nil) once, and only if
// it stays the same for one more interval: an editor writing in place can
// be caught half-way, and the finished file arriving a moment later is not
// worth an alarm. The previous users stay in force meanwhile.
func (f *File) Watch(ctx context.Context, interval time.Duration, onErr func(error)) {
	if interval <= 0 {
		return
	}
	report := func(err error) {
		if onErr != nil {
			onErr(err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	seen := f.cur.Load().stamp
	var pending error // a failure not yet reported, waiting to be confirmed
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp, err := statFile(f.path)
		if stamp.same(seen) {
			if pending != nil {
				report(pending)
				pending = nil
			}
			continue
		}
		seen, pending = stamp, nil
		if err != nil {
			pending = fmt.Errorf("directory: watch: %w", err)
			continue
		}
		if f.cur.Load().stamp.same(stamp) {
			continue // Reload (SIGHUP) got there first
		}
		pending = f.Reload()
	}
}
