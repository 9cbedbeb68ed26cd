package directory

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// File is the file backend: users, password hashes and groups in a YAML
// file (see OpenFile for the format). It is safe for concurrent use; Reload
// and Watch swap in a new version of the file atomically.
//
// User names are compared exactly as stored, byte for byte: "Alice" is not
// "alice". Case folding belongs to directories that define it (LDAP).
type File struct {
	path string
	// sem rations checks of expensive hashes: an argon2id check holds 19
	// MiB and a CPU for tens of milliseconds, and hundreds of RADIUS workers
	// checking at once would only queue on the CPUs while holding memory.
	sem chan struct{}
	// mu serialises reloads so that an older read never replaces a newer.
	mu  sync.Mutex
	cur atomic.Pointer[fileVersion]
	m   *Metrics // nil: nothing counted
}

// FileOption changes how OpenFile builds the backend.
type FileOption func(*File)

// WithFileMetrics counts the backend's password checks on m.
func WithFileMetrics(m *Metrics) FileOption {
	return func(f *File) { f.m = m }
}

// fileVersion is one successfully loaded version of the file.
type fileVersion struct {
	users map[string]*userEntry
	// decoy is checked for unknown users so that they cost as much as
	// known ones: it has the cost of the hash most users have.
	decoy passwordHash
	stamp fileStamp
}

// OpenFile loads the users file at path:
//
//	users:
//	  alice:
//	    password: "$argon2id$v=19$m=19456,t=2,p=1$..."  # never a plain password
//	    groups: [vpn-users]
//	    disabled: false
//
// The whole file is validated; a file with any problem is refused with a
// *FileError listing every problem with its line. An empty file is refused
// too (write `users: {}` for no users), so that a file caught half-written
// is never taken for one without users.
func OpenFile(path string, opts ...FileOption) (*File, error) {
	return openFile(path, runtime.GOMAXPROCS(0), opts...)
}

// openFile is OpenFile with the number of concurrent expensive checks.
func openFile(path string, expensive int, opts ...FileOption) (*File, error) {
	f := &File{path: path, sem: make(chan struct{}, max(expensive, 1))}
	for _, o := range opts {
		o(f)
	}
	v, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	f.cur.Store(v)
	return f, nil
}

// Path returns the file's path as given to OpenFile.
func (f *File) Path() string { return f.path }

// Len returns the number of users in the version in force.
func (f *File) Len() int { return len(f.cur.Load().users) }

// Reload reads the file again and puts it in force if it is valid. A
// refused file changes nothing: the previous users stay in force and the
// error says why. Logins in flight finish on the version they started with.
func (f *File) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := loadFile(f.path)
	if err != nil {
		return err
	}
	f.cur.Store(v)
	return nil
}

// loadFile reads and validates one version of the file. The stamp is taken
// before reading, so a change made during the read shows as a new stamp.
func loadFile(path string) (*fileVersion, error) {
	stamp, err := statFile(path)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	doc, problems := parseUsers(data)
	if len(problems) > 0 {
		return nil, &FileError{Path: path, Problems: problems}
	}
	v := &fileVersion{users: make(map[string]*userEntry, len(doc.list)), stamp: stamp}
	costs := map[string]int{}
	var common passwordHash
	for _, u := range doc.list {
		// Keep what logins need, not the YAML tree the entry points into.
		v.users[u.name] = &userEntry{name: u.name, hash: u.hash, groups: u.groups, disabled: u.disabled}
		c := u.hash.cost()
		costs[c]++
		if common == nil || costs[c] > costs[common.cost()] {
			common = u.hash
		}
	}
	if common == nil {
		v.decoy = defaultDecoy()
	} else {
		v.decoy = common.decoy()
	}
	return v, nil
}

// Authenticate checks username and password. A wrong password, an unknown
// user and a disabled account are Results; the error is for a check that
// could not be made (ctx ended while waiting for a turn).
//
// Unknown users are checked against a decoy hash of the cost most users
// have, so response times do not tell which users exist. A disabled account
// is reported as Disabled only with the right password; with a wrong one it
// is BadPassword, so that guessing does not reveal it either.
func (f *File) Authenticate(ctx context.Context, username, password string) (res Result, err error) {
	defer func(start time.Time) {
		f.m.observe(ctx, opAuthenticate, start, err, res.Status != OK, func() string { return statusDetail(res) + " (users file)" })
	}(time.Now())
	v := f.cur.Load()
	u, known := v.users[username]
	h := v.decoy
	if known {
		h = u.hash
	}
	match, err := f.verify(ctx, h, password)
	if err != nil {
		return Result{}, err
	}
	switch {
	case !known:
		return Result{Status: UnknownUser}, nil
	case !match:
		return Result{Status: BadPassword, User: User{Name: u.name}}, nil
	case u.disabled:
		return Result{Status: Disabled, User: User{Name: u.name}}, nil
	}
	return Result{Status: OK, User: User{Name: u.name, Groups: slices.Clone(u.groups)}}, nil
}

// verify checks password against h, waiting for a turn when h is expensive.
func (f *File) verify(ctx context.Context, h passwordHash, password string) (bool, error) {
	if h.expensive() {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("directory: check password: %w", context.Cause(ctx))
		}
		select {
		case f.sem <- struct{}{}:
		case <-ctx.Done():
			return false, fmt.Errorf("directory: waiting to check a password: %w", context.Cause(ctx))
		}
		defer func() { <-f.sem }()
	}
	return h.verify(password), nil
}
