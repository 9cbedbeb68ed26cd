// Package logbuf is a buffer that a logger (or a command's output) writes
// to while a test reads it: bytes.Buffer is not safe for that.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer for one writer and one reader at once. The
// zero value is empty and ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
