//go:build !unix

package embedded

// dataDirFree cannot test the database's lock here; etcd's own start-up
// takes it.
func dataDirFree(string) error { return nil }
