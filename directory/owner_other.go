//go:build !unix

package directory

import "os"

// fileOwner is a no-op where files have no Unix owner.
type fileOwner struct{}

func ownerOf(os.FileInfo) fileOwner { return fileOwner{} }

func (fileOwner) apply(*os.File) error { return nil }
