package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"twostep/cluster"
	"twostep/notify"
	"twostep/portal"
)

const simulateUsage = `Usage: twostepctl device simulate enroll|serve [FLAGS] ...

A push device on the command line, for trying push approval out, for
monitoring, and for tests: it enrolls as a user's push device with its own
key, then receives the push notifications of that user's logins as a
webhook and answers them through the approval API, as the phone app does.

  enroll  make a key, register it as USER's push device (a webhook at
          -listen), write the key file and its .json beside it
  serve   listen for pushes and answer each: approve, deny, fraud or
          ignore, after -delay

Run ` + "`twostepctl device simulate enroll -h`" + ` or ` + "`... serve -h`" + ` for their flags.

Example: a login of alice with "password,push" approved on this host:
  twostepctl device simulate enroll -key sim.key -listen 127.0.0.1:8790 alice
  twostepctl device simulate serve -key sim.key -answer approve -delay 2s
`

const simulateEnrollUsage = `Usage: twostepctl device simulate enroll [-config FILE] [-name NAME] -key FILE -listen HOST:PORT [-endpoint URL] USER

Register a simulated push device for USER, who must exist in the
directory. A new ECDSA P-256 key is written to FILE (PEM "EC PRIVATE KEY",
mode 0600) and a new 32-byte webhook secret to FILE.json (mode 0600), with
the device id, the user, the address and the endpoint: what
` + "`device simulate serve -key FILE`" + ` needs. Neither file is ever
overwritten. The device id is printed; it shows in ` + "`twostepctl devices USER`" + `
(type push) and goes away with ` + "`twostepctl device remove USER ID`" + `.

twostepd sends the pushes as signed webhooks (POST, JSON) to -endpoint,
by default http://HOST:PORT/push, where serve listens. twostepd sends
plain http to loopback addresses only: a simulator on another host
needs an https -endpoint (a TLS proxy in front of serve).

Examples:
  twostepctl device simulate enroll -key /var/lib/twostep/sim.key -listen 127.0.0.1:8790 alice
  twostepctl device simulate enroll -name monitor -key mon.key -listen 0.0.0.0:8790 -endpoint https://mon.example.edu/push probe-user

Flags:
`

// simDefaultName is the name of a simulator device without -name; taken,
// it becomes "simulator 2", "simulator 3"...
const simDefaultName = "simulator"

// simSecretLen is the length of the webhook secret, in bytes.
const simSecretLen = 32

// simState is what enroll leaves beside the key file for serve: the
// file FILE.json, mode 0600 (Secret keys the webhook signatures).
type simState struct {
	User   string `json:"user"`
	Device string `json:"device"`
	Name   string `json:"name"`
	// Listen is where serve listens; Endpoint the URL twostepd posts to.
	Listen   string    `json:"listen"`
	Endpoint string    `json:"endpoint"`
	Secret   []byte    `json:"secret"`
	Created  time.Time `json:"created"`
}

// simStatePath is where the state of the simulator with key file key is.
func simStatePath(key string) string { return key + ".json" }

func (c *cli) simulate(ctx context.Context, args []string) error {
	return c.group(ctx, "device simulate", simulateUsage, args, map[string]subcommand{
		"enroll": c.simulateEnroll,
		"serve":  c.simulateServe,
	})
}

func (c *cli) simulateEnroll(ctx context.Context, args []string) error {
	f := c.storeFlags("device simulate enroll", simulateEnrollUsage)
	name := f.fs.String("name", "", "the device's `name`, 1 to 32 characters; default \"simulator\" (\"simulator 2\" when taken)")
	keyPath := f.fs.String("key", "", "write the device's private key to `file` (mode 0600), and what serve needs to file.json; never overwrites (required)")
	listen := f.fs.String("listen", "", "the `host:port` serve listens on, e.g. 127.0.0.1:8790 (required)")
	endpoint := f.fs.String("endpoint", "", "the `URL` twostepd posts pushes to; default http://LISTEN/push")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	// Settings first: no connection is worth making for a typo.
	if *keyPath == "" {
		return errors.New("twostepctl device simulate enroll: -key FILE is required: where to write the device's private key")
	}
	ep, err := simEndpoint(*listen, *endpoint)
	if err != nil {
		return err
	}
	if *name != "" {
		if err := checkDeviceName(*name); err != nil {
			return err
		}
	}
	statePath := simStatePath(*keyPath)
	for _, p := range []string{*keyPath, statePath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists; enroll never overwrites a simulator's files: remove it (and the device: `%s`) or choose another -key", p, c.command(*f.config, "device", "remove", "USER", "DEVICE"))
		}
	}

	s, user, acct, err := c.openEnrollable(ctx, *f.config, pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	devName, err := s.simDeviceName(acct, user, *name)
	if err != nil {
		return err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), c.rand)
	if err != nil {
		return fmt.Errorf("make the device key: %w", err)
	}
	secret := make([]byte, simSecretLen)
	if _, err := io.ReadFull(c.rand, secret); err != nil {
		return fmt.Errorf("make the webhook secret: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode the device key: %w", err)
	}
	if err := writeNew(*keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("-key %s exists; enroll never overwrites a key file: choose another", *keyPath)
		}
		return fmt.Errorf("-key: %w", err)
	}
	stored := false
	defer func() {
		if !stored {
			os.Remove(*keyPath)
		}
	}()

	now := c.now()
	dev, err := cluster.NewPushDevice(devName, cluster.PushDevice{
		PublicKey: portal.DeviceKey{Key: key}.PublicKey(),
		Kind:      notify.KindWebhook, Endpoint: ep, Secret: secret,
	}, now)
	if err != nil {
		return err
	}
	// The trail names the webhook's scheme and host only: its path may
	// be a secret (an ntfy topic, a token), sealed in the device record.
	octx, cancel := op(ctx)
	dev, err = s.as("simulated, webhook "+urlOrigin(ep)).AddDevice(octx, user, dev)
	cancel()
	switch {
	case errors.Is(err, cluster.ErrDeviceName):
		return fmt.Errorf("%w; nothing stored: give another -name", err)
	case errors.Is(err, cluster.ErrDeviceLimit):
		return fmt.Errorf("%s has %d devices, the most a user may have; nothing stored: remove one first (`%s`)", user, cluster.MaxDevices, s.command("devices", user))
	case errors.Is(err, cluster.ErrConflict):
		return fmt.Errorf("%s's devices changed meanwhile (another admin?); nothing stored: run the command again", user)
	case err != nil:
		return fmt.Errorf("nothing stored: %w", s.storeErr(err))
	}

	st := simState{User: user, Device: dev.ID, Name: dev.Name, Listen: *listen, Endpoint: ep, Secret: secret, Created: now.UTC()}
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = writeNew(statePath, append(b, '\n'))
	}
	if err != nil {
		// A device nobody can answer for is worse than none.
		octx, cancel := op(ctx)
		_, rerr := s.as("its enrollment failed").RemoveDevice(octx, user, dev.ID)
		cancel()
		if rerr != nil {
			return fmt.Errorf("write %s: %w; the device %s of %s stays registered: remove it with `%s`", statePath, err, dev.ID, user, s.command("device", "remove", "-yes", user, dev.ID))
		}
		return fmt.Errorf("write %s: %w; nothing stored", statePath, err)
	}
	stored = true

	fmt.Fprintln(c.stdout, dev.ID)
	fmt.Fprintf(c.stderr, "enrolled simulated push device %q (id %s) for %s: webhook %s; key in %s, its settings in %s.\nAnswer pushes with: %s\n",
		dev.Name, dev.ID, user, ep, *keyPath, statePath, c.command("", "device", "simulate", "serve", "-key", *keyPath))
	return nil
}

// simEndpoint checks -listen and -endpoint and returns the webhook URL.
func simEndpoint(listen, endpoint string) (string, error) {
	if listen == "" {
		return "", errors.New("twostepctl device simulate enroll: -listen HOST:PORT is required: where serve will listen, e.g. 127.0.0.1:8790")
	}
	host, port, err := net.SplitHostPort(listen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("twostepctl device simulate enroll: -listen %q: want HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8790", listen)
	}
	if endpoint == "" {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			return "", fmt.Errorf("twostepctl device simulate enroll: -listen %q is every address: give the URL twostepd reaches it at with -endpoint", listen)
		}
		return "http://" + listen + "/push", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("twostepctl device simulate enroll: -endpoint %q: want an http:// or https:// URL without credentials, e.g. https://mon.example.edu/push", endpoint)
	}
	return endpoint, nil
}

// simDeviceName returns the name of a new simulator of acct: the one
// asked for, if free, or the first free of "simulator", "simulator 2"...
func (s *session) simDeviceName(acct *cluster.Account, user, asked string) (string, error) {
	if asked != "" {
		return s.pickDeviceName(acct, user, asked)
	}
	n := simDefaultName
	for i := 2; ; i++ {
		if _, err := s.pickDeviceName(acct, user, n); err == nil {
			return n, nil
		}
		n = fmt.Sprintf("%s %d", simDefaultName, i)
	}
}

// loadSimulator reads the key file and its state file.
func (c *cli) loadSimulator(keyPath string) (portal.DeviceKey, simState, error) {
	var st simState
	b, err := os.ReadFile(keyPath)
	if err != nil {
		return portal.DeviceKey{}, st, fmt.Errorf("read the device key (-key): %w; make one with `%s`", err, c.command(c.config, "device", "simulate", "enroll", "-key", keyPath, "..."))
	}
	key, err := parseDeviceKey(b)
	if err != nil {
		return portal.DeviceKey{}, st, fmt.Errorf("the device key %s: %w", keyPath, err)
	}
	statePath := simStatePath(keyPath)
	b, err = os.ReadFile(statePath)
	if err != nil {
		return portal.DeviceKey{}, st, fmt.Errorf("read the simulator's settings: %w (enroll writes them beside the key file)", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return portal.DeviceKey{}, st, fmt.Errorf("the simulator's settings %s: %w", statePath, err)
	}
	if st.Device == "" || st.Listen == "" || st.Endpoint == "" || len(st.Secret) == 0 {
		return portal.DeviceKey{}, st, fmt.Errorf("the simulator's settings %s lack the device, listen, endpoint or secret: enroll again", statePath)
	}
	return portal.DeviceKey{Key: key}, st, nil
}

// parseDeviceKey reads a PEM P-256 key: "EC PRIVATE KEY" (SEC 1) or
// "PRIVATE KEY" (PKCS #8).
func parseDeviceKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	var key *ecdsa.PrivateKey
	switch blk.Type {
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, want an ECDSA P-256 key", k)
		}
		key = ek
	default:
		return nil, fmt.Errorf("PEM %q, want \"EC PRIVATE KEY\" or \"PRIVATE KEY\"", blk.Type)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("curve %s, want P-256", key.Curve.Params().Name)
	}
	return key, nil
}

// urlOrigin is the scheme and host of the URL u, without its path, query
// or credentials: what a log or an audit event may show of an endpoint.
func urlOrigin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(an unreadable URL)"
	}
	return p.Scheme + "://" + p.Host
}
