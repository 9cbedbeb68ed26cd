package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"twostep/cluster"
)

// maxSeedLines bounds the seeds listed one per line: a key file that
// opens none of thousands says so in a few lines.
const maxSeedLines = 20

// seeds checks the seed key file and opens every stored seed with it.
func (d *doctor) seeds(ctx context.Context) {
	path := d.cfg.Cluster.SeedKeys
	keys, err := cluster.LoadKeyring(path)
	if err != nil {
		d.fail("seeds.keyfile", err.Error(), keyFileFix(err, path))
		return
	}
	ids := keys.IDs()
	d.ok("seeds.keyfile", fmt.Sprintf("%s: %s (%s); %s seals", path, count(len(ids), "key", "keys"), strings.Join(ids, ", "), keys.ActiveID()))
	if d.store == nil {
		return // cluster.connect FAILed
	}
	sctx, cancel := d.within(ctx)
	defer cancel()
	rep, err := cluster.NewAccounts(d.store, keys).CheckSeeds(sctx)
	if err != nil {
		d.fail("seeds", err.Error(), "etcd must answer: see the cluster lines")
		return
	}
	for i, f := range rep.Failed {
		if i == maxSeedLines {
			d.fail("seeds", fmt.Sprintf("and %d more seeds that do not open", len(rep.Failed)-i), "as above")
			break
		}
		detail, fix := d.seedFailure(f, path)
		d.fail("seeds", detail, fix)
	}
	opened := 0
	var byKey []string
	for _, id := range slices.Sorted(maps.Keys(rep.Opened)) {
		opened += rep.Opened[id]
		byKey = append(byKey, fmt.Sprintf("%d with %s", rep.Opened[id], id))
	}
	detail := count(opened, "seed opens", "seeds open")
	if len(byKey) > 0 {
		detail += " (" + strings.Join(byKey, ", ") + ")"
	}
	if opened == 0 && len(rep.Failed) == 0 {
		detail = "no device or token seed stored yet"
	}
	for id := range rep.Opened {
		if id != keys.ActiveID() {
			detail += fmt.Sprintf("; seeds sealed with an older key: `%s` re-seals them with %s", d.command("rekey"), keys.ActiveID())
			break
		}
	}
	if len(rep.Failed) > 0 {
		d.fail("seeds", fmt.Sprintf("%d of %d seeds do not open; %s", len(rep.Failed), opened+len(rep.Failed), detail),
			"every node needs the same key file: the one that opens every seed")
		return
	}
	d.ok("seeds", detail)
}

// keyFileFix says what to do about a seed key file that does not load.
func keyFileFix(err error, path string) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("cluster.seed_keys: copy the cluster's key file from another node; for a new cluster create it once with `%s`", commandLine("keygen", "-out", path))
	case errors.Is(err, os.ErrPermission):
		return "run the doctor as root or as the user twostepd runs as"
	}
	if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
		return "chmod 600 " + shellQuote(path)
	}
	return "cluster.seed_keys: the file holds lines \"ID BASE64\"; `twostepctl keygen` prints a good one"
}

// seedFailure explains a seed that does not open: which record, never the
// seed.
func (d *doctor) seedFailure(f cluster.SeedFailure, path string) (detail, fix string) {
	what := fmt.Sprintf("token %s (%s)", f.Serial, f.Key)
	remove := fmt.Sprintf("import the token again from the vendor's file after `etcdctl del %s%s`", d.cfg.Cluster.Etcd.Prefix, f.Key)
	if f.Kind == cluster.KindDevice {
		what = fmt.Sprintf("%s's device %q (%s)", f.User, f.Device, f.Key)
		id := f.Key[strings.LastIndexByte(f.Key, '/')+1:]
		remove = fmt.Sprintf("remove the device, `%s`, and enroll it again", d.command("device", "remove", "-yes", f.User, id))
	}
	switch {
	case errors.Is(f.Err, cluster.ErrUnknownKey):
		return fmt.Sprintf("%s is sealed with key %s, which %s lacks", what, f.KeyID, path),
			fmt.Sprintf("put the line of key %s back in %s (from the key file of another node, or a backup); every node needs the same file", f.KeyID, path)
	case errors.Is(f.Err, cluster.ErrDecrypt):
		return fmt.Sprintf("%s does not open with key %s of %s: the record was altered, or another key file holds a key of that id", what, f.KeyID, path),
			fmt.Sprintf("give this node the cluster's key file (from a node where this check passes); if none opens it, %s", remove)
	}
	return fmt.Sprintf("%s: %v", what, f.Err), remove
}
