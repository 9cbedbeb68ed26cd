package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/cluster/etcdstore"
)

// Limits of "twostep-bench enroll".
const (
	maxDevicesPerUser = 10
	enrollIssuer      = "twostep-bench"
)

// enrollConfig is one "twostep-bench enroll" run.
type enrollConfig struct {
	Etcd         etcdstore.Config
	MirrorPrefix string // when set, each user's records are copied there too
	Keys         *cluster.Keyring
	Users        []user
	Devices      int
	Concurrency  int
	Timeout      time.Duration
	Progress     io.Writer
}

// runEnroll is "twostep-bench enroll": it gives every user of a users file
// the same number of TOTP devices through twostep's cluster API (the
// records and seed sealing twostepd reads), writes their otpauth URIs for
// the load's -devices, and optionally copies each user's records under a
// second prefix, for "twostep-bench etcd" to spend without touching the
// devices the RADIUS load uses.
func runEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, out, err := parseEnrollFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg.Progress = stderr
	if err := enrollFile(ctx, cfg, out); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	fmt.Fprintf(stdout, "enrolled %d devices for %d users; wrote %s\n", len(cfg.Users)*cfg.Devices, len(cfg.Users), out)
	return nil
}

// parseEnrollFlags reads enroll's flags, the users and the seed keys, and
// returns the configuration and the -out file.
func parseEnrollFlags(args []string, stderr io.Writer) (enrollConfig, string, error) {
	fs := flag.NewFlagSet("twostep-bench enroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg enrollConfig
	endpoints := fs.String("endpoints", "", "comma-separated etcd client `URLs` on loopback (http://127.0.0.1:PORT; required)")
	fs.StringVar(&cfg.Etcd.Prefix, "prefix", etcdstore.DefaultPrefix, "key `prefix` of the twostep cluster (its cluster.prefix)")
	fs.StringVar(&cfg.MirrorPrefix, "mirror-prefix", "", "also copy every user's records under this `prefix`, for twostep-bench etcd")
	seedKeys := fs.String("seed-keys", "", "the cluster's seed key `file` (cluster.seed_keys; required)")
	usersFile := fs.String("users", "", "user:password `file`: every user gets -devices devices (required)")
	fs.IntVar(&cfg.Devices, "devices", 3, fmt.Sprintf("TOTP devices per user (1-%d), SHA1, 6 digits, 30 s", maxDevicesPerUser))
	out := fs.String("out", "", "`file` for the load's -devices: one \"USER otpauth://totp/...\" line per device (mode 0600, never overwritten; required)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "users enrolled at once")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "per etcd operation")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: twostep-bench enroll -endpoints http://127.0.0.1:PORT -seed-keys FILE -users FILE -devices N -out FILE [flags]

Enrolls N TOTP devices for every user of FILE in the twostep cluster whose
etcd answers at -endpoints (loopback only: it adds devices to every user
it names), as twostepctl would, and writes the devices' otpauth URIs for
the load's -devices. It shows its progress on stderr. The file holds the
seeds: keep it as private as the seed keys.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseSubFlags(fs, args); err != nil {
		return cfg, "", err
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments: %q", fs.Args())
	}
	cfg.Etcd.Endpoints = loopbackEndpoints(*endpoints, "-endpoints", bad)
	if err := cfg.Etcd.Validate(); err != nil && len(cfg.Etcd.Endpoints) > 0 {
		bad("%v", err)
	}
	cfg.check(bad)
	if *out == "" {
		bad("-out is required")
	} else if _, err := os.Stat(*out); err == nil {
		bad("-out %s exists; it is never overwritten", *out)
	}
	if *seedKeys == "" {
		bad("-seed-keys is required")
	} else if k, err := cluster.LoadKeyring(*seedKeys); err != nil {
		bad("-seed-keys: %v", err)
	} else {
		cfg.Keys = k
	}
	if *usersFile == "" {
		bad("-users is required")
	} else if users, err := readUsers(*usersFile); err != nil {
		bad("-users: %v", err)
	} else {
		cfg.Users = users
	}
	if len(probs) > 0 {
		return cfg, "", usageError{"enroll: invalid flags:\n  " + strings.Join(probs, "\n  ")}
	}
	return cfg, *out, nil
}

// check tells bad of every setting out of bounds.
func (cfg enrollConfig) check(bad func(string, ...any)) {
	if cfg.MirrorPrefix != "" && (!strings.HasPrefix(cfg.MirrorPrefix, "/") || !strings.HasSuffix(cfg.MirrorPrefix, "/") || cfg.MirrorPrefix == cfg.Etcd.Prefix) {
		bad("-mirror-prefix %q: want /NAME/, not -prefix", cfg.MirrorPrefix)
	}
	if cfg.Devices < 1 || cfg.Devices > maxDevicesPerUser {
		bad("-devices %d: want 1 to %d", cfg.Devices, maxDevicesPerUser)
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > maxConcurrency {
		bad("-concurrency %d: want 1 to %d", cfg.Concurrency, maxConcurrency)
	}
	if cfg.Timeout <= 0 || cfg.Timeout > maxTimeout {
		bad("-timeout %v: want more than 0, at most %v", cfg.Timeout, maxTimeout)
	}
}

// enrollFile enrolls the devices and writes their otpauth URIs to out
// (mode 0600, never overwritten: it holds the seeds).
func enrollFile(ctx context.Context, cfg enrollConfig, out string) error {
	devs, err := enroll(ctx, cfg)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# twostep-bench enroll: %d users x %d TOTP devices (SHA1, 6 digits, 30 s); holds the seeds\n", len(cfg.Users), cfg.Devices)
	for i, u := range cfg.Users {
		for _, d := range devs[i] {
			fmt.Fprintf(&b, "%s %s\n", u.Name, d.URI(enrollIssuer, u.Name))
		}
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loopbackEndpoints splits a comma-separated list of etcd client URLs and
// refuses any that is not on a loopback IP: the bench writes thousands of
// records, and into a production cluster they would be real devices.
func loopbackEndpoints(list, flagName string, bad func(string, ...any)) []string {
	var eps []string
	for ep := range strings.SplitSeq(list, ",") {
		if ep = strings.TrimSpace(ep); ep == "" {
			continue
		}
		u, err := url.Parse(ep)
		var ip net.IP
		if err == nil {
			ip = net.ParseIP(u.Hostname())
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || ip == nil || !ip.IsLoopback() {
			bad("%s %q: want http://LOOPBACK-IP:PORT (the bench writes only to an etcd of its own)", flagName, ep)
			continue
		}
		eps = append(eps, ep)
	}
	if len(eps) == 0 && list == "" {
		bad("%s is required", flagName)
	}
	return eps
}

// enroll adds cfg.Devices devices to every user, cfg.Concurrency users at
// a time (one user's devices one after the other: adding a device
// compares the user's other devices), and returns them per user.
func enroll(ctx context.Context, cfg enrollConfig) ([][]otp.TOTP, error) {
	store, err := etcdstore.Open(ctx, cfg.Etcd)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	var mirror *etcdstore.Store
	if cfg.MirrorPrefix != "" {
		mc := cfg.Etcd
		mc.Prefix = cfg.MirrorPrefix
		if mirror, err = etcdstore.Open(ctx, mc); err != nil {
			return nil, err
		}
		defer mirror.Close()
	}
	total := len(cfg.Users) * cfg.Devices
	var done atomic.Int64
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	stopProgress := showProgress(progress, &done, total)
	defer stopProgress()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	devs := make([][]otp.TOTP, len(cfg.Users))
	jobs := make(chan int)
	var failed atomic.Value
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, len(cfg.Users)) {
		wg.Go(func() {
			for i := range jobs {
				ds, err := enrollUser(ctx, cfg, store, mirror, cfg.Users[i].Name, &done)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					cancel()
					continue
				}
				devs[i] = ds
			}
		})
	}
feed:
	for i := range cfg.Users {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, errInterrupted
	}
	return devs, nil
}

// enrollUser adds one user's devices, then copies the user's records to
// the mirror when there is one.
func enrollUser(ctx context.Context, cfg enrollConfig, store *etcdstore.Store, mirror *etcdstore.Store, name string, done *atomic.Int64) ([]otp.TOTP, error) {
	accounts := cluster.NewAccounts(store, cfg.Keys)
	var ds []otp.TOTP
	for d := 1; d <= cfg.Devices; d++ {
		secret, err := otp.NewTOTPSecret(rand.Reader, otp.SHA1)
		if err != nil {
			return nil, err
		}
		t := otp.TOTP{Secret: secret, Algorithm: otp.SHA1, Digits: 6, Period: 30 * time.Second}
		octx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		_, err = accounts.AddDevice(octx, name, cluster.Device{
			Name: fmt.Sprintf("bench-%d", d), Type: cluster.TOTP,
			Algorithm: string(t.Algorithm), Digits: t.Digits, Period: t.Period, Secret: secret,
		})
		cancel()
		if err != nil {
			return nil, err
		}
		ds = append(ds, t)
		done.Add(1)
	}
	if mirror == nil {
		return ds, nil
	}
	// The records as stored, under the same keys (docs/etcd-layout.md):
	// seeds are sealed to the user and the device, not to the prefix.
	octx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	entries, err := store.List(octx, "users/"+cluster.UserKey(name)+"/")
	if err != nil {
		return nil, err
	}
	var txn cluster.Txn
	for _, e := range entries {
		txn.If = append(txn.If, cluster.Compare{Key: e.Key})
		txn.Then = append(txn.Then, cluster.Put(e.Key, e.Value))
	}
	if _, err := mirror.Commit(octx, txn); err != nil {
		return nil, fmt.Errorf("copy the records of %q under %s: %w", name, cfg.MirrorPrefix, err)
	}
	return ds, nil
}

// showProgress prints done/total to w every second until the returned
// stop is called, and a last line then.
func showProgress(w io.Writer, done *atomic.Int64, total int) (stop func()) {
	start := time.Now()
	quit := make(chan struct{})
	finished := make(chan struct{})
	line := func() {
		n := done.Load()
		fmt.Fprintf(w, "enroll: %d/%d devices (%.0f/s)\n", n, total, float64(n)/max(time.Since(start).Seconds(), 1e-3))
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				line()
				return
			case <-t.C:
				line()
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}
