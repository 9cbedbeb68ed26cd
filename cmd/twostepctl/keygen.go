package main

import (
	"errors"
	"fmt"
	"os"

	"twostep/cluster"
)

const keygenUsage = `Usage: twostepctl keygen [-out FILE]

Create a seed key file: the AES-256 key that seals every OTP seed kept in
etcd (the configuration's cluster.seed_keys, default /etc/twostep/seed.key).
Without -out the file is printed on stdout; with -out it is written to
FILE with mode 0600, and an existing FILE is never overwritten: the seeds
sealed with its keys would be lost.

Every node needs the same file, readable by the user twostepd runs as,
and a copy belongs offline: without it every device must be enrolled
again.

To rotate the key, run keygen without -out, put its key line (the last
line) first in the existing file on every node (the first key seals,
every listed key opens), and keep the old line until no record uses its
id (docs/etcd-layout.md).

Examples:
  twostepctl keygen -out /etc/twostep/seed.key
  twostepctl keygen | tail -n 1        # a new key line, for rotation

Flags:
`

func (c *cli) keygen(args []string) error {
	fs := c.flagSet("twostepctl keygen", keygenUsage)
	out := fs.String("out", "", "write the key file to `file` (mode 0600) instead of stdout; never overwrites")
	pos, err := c.parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("twostepctl keygen: takes no arguments, got %q; see `twostepctl keygen -h`", pos)
	}
	data, err := cluster.NewKeyFile(c.rand, c.now())
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := c.stdout.Write(data)
		return err
	}
	if err := writeNew(*out, data); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; keygen never overwrites a key file (the seeds sealed with it would be lost). To rotate, put the key line of `twostepctl keygen` first in %s and keep the old line (see `twostepctl keygen -h`)", *out, *out)
		}
		return err
	}
	k, err := cluster.ParseKeyring(data)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote a new seed key file %s (key %s, mode 0600)\n", *out, k.ActiveID())
	fmt.Fprintln(c.stdout, "Give the same file to every node, readable by the user twostepd runs as, and keep a copy offline: without it the seeds in etcd cannot be opened.")
	return nil
}

// writeNew writes data to a new file at path, mode 0600, and fails with
// os.ErrExist when path exists. A failed write leaves no file behind.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
