package main

import (
	"context"
	"fmt"
	"time"

	"twostep/cluster"
)

const rekeyUsage = `Usage: twostepctl rekey [-config FILE]

Re-seal every device and hardware token seed in etcd with the first key
of the seed key file, the second step of a key rotation:

  1. put a new key line (twostepctl keygen | tail -n 1) first in the key
     file of every node, keeping the old line, and restart or reload them;
  2. twostepctl rekey;
  3. remove the old line once rekey reports nothing left to re-seal.

Records sealed with the first key already are left alone, so rekey can run
again at any time. A record another admin changes meanwhile is counted as
a conflict: run rekey again.

Example:
  twostepctl rekey -config /etc/twostep/twostep.yaml

Flags:
`

// rekeyTimeout bounds the whole pass: each record is one read and one
// write, so thousands take seconds.
const rekeyTimeout = 10 * time.Minute

func (c *cli) rekey(ctx context.Context, args []string) error {
	f := c.storeFlags("rekey", rekeyUsage)
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("twostepctl rekey: takes no arguments, got %q; see `twostepctl rekey -h`", pos)
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	rctx, cancel := context.WithTimeout(ctx, rekeyTimeout)
	defer cancel()
	res, err := s.accounts.Rekey(rctx, func(done, total int) {
		if done%500 == 0 || done == total {
			fmt.Fprintf(c.stderr, "checked %d/%d seeds\n", done, total)
		}
	})
	if err != nil {
		return s.storeErr(err)
	}
	active := s.keys.ActiveID()
	fmt.Fprintf(c.stdout, "re-sealed %d seeds with key %s; %d already used it\n", res.Resealed, active, res.Current)
	fmt.Fprintf(c.stdout, "every seed is sealed with %s: older keys may leave the key file\n", active)
	return c.record(ctx, s, cluster.ActionKeysRekey, "", fmt.Sprintf("re-sealed %d seeds with key %s", res.Resealed, active))
}
