package main

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
)

// rfcSeed is the seed of RFC 4226's test vectors (Appendix D).
var rfcSeed = []byte("12345678901234567890")

// Seeds of the tokens in tokensCSV besides rfcSeed; each user's tokens
// need seeds of their own.
var (
	seed2    = []byte("abcdefghijklmnopqrst")
	seedTOTP = []byte("ABCDEFGHIJKLMNOPQRST")
	seedLong = []byte("0123456789abcdefghij")
	seed8    = []byte("zyxwvutsrqponmlkjihg")
)

// tokensCSV is a shipment whose seeds the tests know: HW-HOTP-1 has
// RFC 4226's, HW-DUP the same seed again.
func tokensCSV() string {
	h := hex.EncodeToString
	return "serial,type,secret,counter,digits,period,manufacturer,model\n" +
		"HW-HOTP-1,hotp," + h(rfcSeed) + ",,,,Feitian,c100\n" +
		"HW-HOTP-2,hotp," + h(seed2) + ",,,,,c100\n" +
		"HW-TOTP-1,totp," + h(seedTOTP) + ",,,30,Feitian,Feitian c200\n" +
		"LONG-SERIAL-0123456789-ABCDEFGHIJ-0042,hotp," + h(seedLong) + ",,,,,\n" +
		"HW-HOTP-8,hotp," + h(seed8) + ",7,8,,,\n" +
		"HW-DUP,hotp," + h(rfcSeed) + ",,,,,\n"
}

// tokenDesk runs the token commands against a test cluster and checks
// that no output and no error shows a seed or a code.
type tokenDesk struct {
	*helpDesk
	dir   string
	seeds [][]byte
}

func newTokenDesk(t *testing.T) *tokenDesk {
	t.Helper()
	return &tokenDesk{
		helpDesk: newHelpDesk(t),
		dir:      t.TempDir(),
		seeds:    [][]byte{rfcSeed, seed2, seedTOTP, seedLong, seed8, []byte("12345678901234567890123456789012")},
	}
}

// write writes a file into the test's directory and returns its path.
func (d *tokenDesk) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(d.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clean fails when s shows a seed (hex, base32 or raw) or a code.
func (d *tokenDesk) clean(t *testing.T, what, s string) {
	t.Helper()
	d.noCode(t, what, s)
	for _, seed := range d.seeds {
		for _, shown := range []string{
			hex.EncodeToString(seed)[:16], strings.ToUpper(hex.EncodeToString(seed)[:16]),
			base32.StdEncoding.EncodeToString(seed)[:16], string(seed),
		} {
			if strings.Contains(s, shown) {
				t.Errorf("%s shows a seed (%s):\n%s", what, shown, s)
			}
		}
	}
}

func (d *tokenDesk) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	out, errOut, err := d.helpDesk.ctl(t, "", args...)
	d.clean(t, "stdout", out)
	d.clean(t, "stderr", errOut)
	if err != nil {
		d.clean(t, "the error", err.Error())
	}
	return out, errOut, err
}

func (d *tokenDesk) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := d.run(t, args...)
	if err != nil {
		t.Fatalf("twostepctl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (d *tokenDesk) fail(t *testing.T, want string, args ...string) string {
	t.Helper()
	out, _, err := d.run(t, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("twostepctl %s: got %v, want an error with %q", strings.Join(args, " "), err, want)
	}
	return out
}

// list is `token list -json` with args.
func (d *tokenDesk) list(t *testing.T, args ...string) []tokenJSON {
	t.Helper()
	var got []tokenJSON
	if err := decodeJSON(d.must(t, append([]string{"token", "list", "-json"}, args...)...), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// serials returns the serials of tokens.
func serials(tokens []tokenJSON) []string {
	var out []string
	for _, t := range tokens {
		out = append(out, t.Serial)
	}
	return out
}

// tokenEvents returns the audit events whose action starts with token.,
// as "action user".
func (d *tokenDesk) tokenEvents(t *testing.T) ([]string, []auditJSON) {
	t.Helper()
	var got []string
	var events []auditJSON
	for _, e := range d.events(t) {
		if strings.HasPrefix(e.Action, "token.") {
			d.clean(t, "an audit event", fmt.Sprintf("%+v", e))
			got = append(got, strings.TrimSpace(e.Action+" "+e.User))
			events = append(events, e)
		}
	}
	return got, events
}

// device returns user's device made of the token serial.
func (d *tokenDesk) device(t *testing.T, user, serial string) (*cluster.Account, cluster.Device, bool) {
	t.Helper()
	acct := d.load(t, user)
	for _, dev := range acct.Devices {
		if dev.Serial == serial {
			return acct, dev, true
		}
	}
	return acct, cluster.Device{}, false
}

// pskcFile is a file of tokenfile's tests.
func pskcFile(name string) string { return filepath.Join("..", "..", "tokenfile", "testdata", name) }

func TestTokenImport(t *testing.T) {
	d := newTokenDesk(t)
	csvFile := filepath.Join("..", "..", "tokenfile", "testdata", "tokens.csv")
	out := d.must(t, "token", "import", csvFile)
	contains(t, out, "imported 5 tokens: 2 hotp, 3 totp; all unassigned", "twostepctl -config "+d.config+" token assign SERIAL USER")
	got := d.list(t)
	if s := serials(got); !slices.Equal(s, []string{"H-0001", "H-0002", "T-0003", "T-0004", "T-0005"}) {
		t.Fatalf("got %q", s)
	}
	if h2 := got[1]; h2.Type != "hotp" || h2.Digits != 8 || h2.Counter != 42 || h2.Algorithm != "SHA1" || h2.State != "unassigned" ||
		h2.Model != "OTP c100" || h2.User != "" || h2.Imported.IsZero() {
		t.Errorf("got %+v", h2)
	}
	contains(t, d.must(t, "token", "list"), "SHA256/8/60s")
	if t4 := got[3]; t4.Type != "totp" || t4.PeriodSeconds != 60 || t4.Algorithm != "SHA256" {
		t.Errorf("got %+v", t4)
	}

	keyAES128, _ := hex.DecodeString("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	raw128 := d.write(t, "aes128.key", string(keyAES128))
	hexFig6 := d.write(t, "figure6.key", "12345678 90123456 78901234 56789012\n")
	steps := []struct {
		name     string
		args     []string
		want     string // in stdout, or in the error with wantErr
		wantErr  bool
		inventor int // tokens in the inventory after the step
	}{
		{"pskc without its key", []string{pskcFile("python-pskc-aes128.xml")}, "nothing was imported: give the pre-shared key", true, 5},
		{"pskc with a wrong key", []string{"-psk-hex", "00112233445566778899aabbccddeeff", pskcFile("python-pskc-aes128.xml")}, "MAC check failed", true, 5},
		{"pskc with its raw key in a file", []string{"-psk-file", raw128, pskcFile("python-pskc-aes128.xml")}, "imported 3 tokens: 1 hotp, 2 totp; all unassigned", false, 8},
		{"pskc with its hex key in a file", []string{"-psk-file", hexFig6, pskcFile("rfc6030-figure6.xml")}, "imported 1 token: 1 hotp; all unassigned", false, 9},
		{"the same tokens again", []string{pskcFile("python-pskc-plain.xml")}, "nothing was imported: 3 tokens of " + pskcFile("python-pskc-plain.xml") + " already in the inventory: PYHOTP-0001, PYTOTP-0002, PYTOTP-0003", true, 9},
		// The key is read: the tokens are refused as already there, not
		// for a MAC that fails.
		{"pskc with its key in hex", []string{"-psk-hex", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", pskcFile("python-pskc-aes256.xml")}, "already in the inventory", true, 9},
		{"one token already there", []string{d.write(t, "mixed.csv", "serial,secret\nNEW-1,"+hex.EncodeToString(seed2)+"\nH-0001,"+hex.EncodeToString(seed8)+"\n")},
			"nothing was imported: 1 token of " + filepath.Join(d.dir, "mixed.csv") + " already in the inventory: H-0001", true, 9},
		{"a bad file", []string{d.write(t, "bad.csv", "serial,secret,type\nOK-1,"+hex.EncodeToString(seed2)+",hotp\nBAD-1,3132,hotp\nOK-2,"+hex.EncodeToString(seed8)+",hotp\nBAD-2,"+hex.EncodeToString(seedTOTP)+",push\n")},
			"bad.csv:3: serial \"BAD-1\"", true, 9},
		{"an empty file", []string{d.write(t, "empty.csv", "serial,secret\n")}, "the file holds no tokens", true, 9},
		{"no such file", []string{filepath.Join(d.dir, "missing.csv")}, "no such file", true, 9},
		{"both keys", []string{"-psk-file", raw128, "-psk-hex", "00", csvFile}, "-psk-file or -psk-hex, not both", true, 9},
		{"a key not in hex", []string{"-psk-hex", "not-a-key-0f1e2d3c4b5a6978", csvFile}, "-psk-hex: want the key in hex", true, 9},
		{"a key file of the wrong size", []string{"-psk-file", d.write(t, "short.key", "0f1e2d3c"), csvFile}, "the file holds 8 bytes", true, 9},
		{"no file", nil, "want FILE, got 0 arguments", true, 9},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, _, err := d.run(t, append([]string{"token", "import"}, s.args...)...)
			switch {
			case s.wantErr && (err == nil || !strings.Contains(err.Error(), s.want)):
				t.Errorf("got %v, want an error with %q", err, s.want)
			case !s.wantErr && err != nil:
				t.Errorf("got %v\n%s", err, out)
			case !s.wantErr:
				contains(t, out, s.want)
			}
			if n := len(d.list(t)); n != s.inventor {
				t.Errorf("the inventory holds %d tokens, want %d", n, s.inventor)
			}
		})
	}
	t.Run("every problem of a bad file", func(t *testing.T) {
		_, _, err := d.run(t, "token", "import", filepath.Join(d.dir, "bad.csv"))
		if err == nil {
			t.Fatal("got nil, want an error")
		}
		contains(t, err.Error(), "2 problems", "bad.csv:3", "bad.csv:5", "\"push\"", "nothing was imported", "refused whole")
		for _, ok := range []string{"OK-1", "OK-2"} {
			if slices.Contains(serials(d.list(t)), ok) {
				t.Errorf("%s was imported from a refused file", ok)
			}
		}
	})
	t.Run("progress of a large file", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("serial,type,secret,period\n")
		for i := range 350 {
			fmt.Fprintf(&b, "BULK-%04d,totp,%x,30\n", i, fmt.Sprintf("bulk-seed-%010d", i))
		}
		out, errOut, err := d.run(t, "token", "import", d.write(t, "bulk.csv", b.String()))
		if err != nil {
			t.Fatal(err)
		}
		contains(t, out, "imported 350 tokens: 350 totp; all unassigned")
		contains(t, errOut, "sealing and writing 350 tokens, all or nothing (4 transactions)", "sealed and wrote 350/350 tokens")
		if got := d.list(t, "-state", "unassigned"); len(got) != 359 {
			t.Errorf("got %d unassigned tokens, want 359", len(got))
		}
	})
	t.Run("audit", func(t *testing.T) {
		actions, events := d.tokenEvents(t)
		if want := []string{"token.import", "token.import", "token.import", "token.import"}; !slices.Equal(actions, want) {
			t.Fatalf("got %q, want %q", actions, want)
		}
		abs, _ := filepath.Abs(csvFile)
		contains(t, events[0].Detail, "5 tokens (2 hotp, 3 totp); from "+abs)
		contains(t, events[1].Detail, "3 tokens (", "; from ", "python-pskc-aes128.xml")
		contains(t, events[3].Detail, "350 tokens (350 totp); from ", "bulk.csv")
	})
}

func TestTokenAssignList(t *testing.T) {
	d := newTokenDesk(t)
	d.must(t, "token", "import", d.write(t, "tokens.csv", tokensCSV()))
	ctx := context.Background()

	out := d.must(t, "token", "assign", "HW-HOTP-1", "alice")
	contains(t, out, `assigned token HW-HOTP-1 (hotp, SHA1/6) to alice as device "token HW-HOTP-1" (id `,
		"alice presses the token's button once", "twostepctl -config "+d.config+" token resync HW-HOTP-1 CODE1 CODE2")
	contains(t, d.must(t, "devices", "alice"), "token HW-HOTP-1", "hotp")
	acct, dev, ok := d.device(t, "alice", "HW-HOTP-1")
	if !ok || dev.Type != cluster.HOTP || dev.Name != "token HW-HOTP-1" || dev.Digits != 6 {
		t.Fatalf("got %+v, %v; want alice's hotp device of HW-HOTP-1", dev, ok)
	}
	// A press of the button logs in, as twostepd checks it.
	h := otp.HOTP{Secret: dev.Secret, Algorithm: otp.Algorithm(dev.Algorithm), Digits: dev.Digits}
	code := otp.HOTP{Secret: rfcSeed}.Code(0)
	d.codes = append(d.codes, code)
	next, ok := h.Check(code, 0, otp.DefaultHOTPWindow)
	if !ok || next != 1 {
		t.Fatalf("the first code: got %d, %v; want it accepted", next, ok)
	}
	if err := d.accounts.Accept(ctx, acct, dev, int64(next-1), time.Now()); err != nil {
		t.Fatal(err)
	}

	out = d.must(t, "token", "assign", "HW-TOTP-1", "alice")
	contains(t, out, `assigned token HW-TOTP-1 (totp, SHA1/6/30s) to alice as device "token HW-TOTP-1"`)
	if strings.Contains(out, "button") {
		t.Errorf("got:\n%s\nwant no word of a button for a totp token", out)
	}
	contains(t, d.must(t, "token", "assign", "LONG-SERIAL-0123456789-ABCDEFGHIJ-0042", "bob"), `as device "token …3456789-ABCDEFGHIJ-0042"`)
	if n := len("token …3456789-ABCDEFGHIJ-0042"); n != maxDeviceName {
		t.Errorf("the long serial's device name is %d bytes, want %d", n, maxDeviceName)
	}
	contains(t, d.must(t, "token", "assign", "-name", "spare token", "HW-HOTP-2", "bob"), `as device "spare token"`)

	// An 8-digit token starting at counter 7: its code 7 logs in, 6 does not.
	d.must(t, "token", "assign", "HW-HOTP-8", "bob")
	acct, dev, _ = d.device(t, "bob", "HW-HOTP-8")
	h = otp.HOTP{Secret: dev.Secret, Digits: dev.Digits}
	last := acct.Used[dev.ID].Step
	if _, ok := h.Check(h.Code(7), uint64(last+1), 10); !ok || dev.Digits != 8 {
		t.Errorf("code 7 of an 8-digit token from counter 7: refused (last step %d, %d digits)", last, dev.Digits)
	}
	if _, ok := h.Check(h.Code(6), uint64(last+1), 10); ok {
		t.Error("code 6 of a token from counter 7: accepted")
	}

	t.Run("errors", func(t *testing.T) {
		d.fail(t, `user "carol" does not exist`, "token", "assign", "HW-DUP", "carol")
		d.fail(t, "token HW-HOTP-1 is already assigned to alice; nothing changed", "token", "assign", "HW-HOTP-1", "bob")
		d.fail(t, `no token "HW-9999" in the inventory`, "token", "assign", "HW-9999", "bob")
		d.fail(t, "device name", "token", "assign", "-name", strings.Repeat("x", 33), "HW-DUP", "bob")
		d.fail(t, `bob already has a device named "spare token"`, "token", "assign", "-name", "SPARE TOKEN", "HW-DUP", "bob")
		d.fail(t, "the vendor shipped two tokens with one seed", "token", "assign", "HW-DUP", "alice")
		d.fail(t, "want SERIAL USER, got 1 arguments", "token", "assign", "HW-DUP")
		if got := d.list(t, "-state", "unassigned"); !slices.Equal(serials(got), []string{"HW-DUP"}) {
			t.Errorf("unassigned: got %q, want HW-DUP", serials(got))
		}
	})

	t.Run("list", func(t *testing.T) {
		out := d.must(t, "token", "list")
		contains(t, out, "SERIAL", "TYPE", "PARAMS", "STATE", "USER", "MODEL", "IMPORTED",
			"HW-HOTP-1", "SHA1/6", "assigned", "alice", "Feitian c100", "Feitian c200", "HW-HOTP-8", "SHA1/8", "SHA1/6/30s", "HW-DUP", "unassigned")
		if strings.Contains(out, "Feitian Feitian") {
			t.Errorf("got:\n%s\nwant the manufacturer once", out)
		}
		tests := []struct {
			args []string
			want []string
		}{
			{nil, []string{"HW-DUP", "HW-HOTP-1", "HW-HOTP-2", "HW-HOTP-8", "HW-TOTP-1", "LONG-SERIAL-0123456789-ABCDEFGHIJ-0042"}},
			{[]string{"-state", "assigned"}, []string{"HW-HOTP-1", "HW-HOTP-2", "HW-HOTP-8", "HW-TOTP-1", "LONG-SERIAL-0123456789-ABCDEFGHIJ-0042"}},
			{[]string{"-state", "unassigned"}, []string{"HW-DUP"}},
			{[]string{"-state", "lost"}, nil},
			{[]string{"-user", "Alice"}, []string{"HW-HOTP-1", "HW-TOTP-1"}},
			{[]string{"-user", "bob", "-state", "assigned"}, []string{"HW-HOTP-2", "HW-HOTP-8", "LONG-SERIAL-0123456789-ABCDEFGHIJ-0042"}},
			{[]string{"-user", "bob", "-state", "unassigned"}, nil},
		}
		for _, tt := range tests {
			if got := serials(d.list(t, tt.args...)); !slices.Equal(got, tt.want) {
				t.Errorf("token list %q: got %q, want %q", tt.args, got, tt.want)
			}
		}
		got := d.list(t, "-user", "alice")
		if a := got[0]; a.User != "alice" || a.DeviceID == "" || a.State != "assigned" || a.Changed.Before(a.Imported) {
			t.Errorf("got %+v", a)
		}
		contains(t, d.must(t, "token", "list", "-state", "lost"), "no token is lost")
		contains(t, d.must(t, "token", "list", "-user", "carol"), "no token is assigned to carol")
		d.fail(t, `-state "stolen": want unassigned, assigned or lost`, "token", "list", "-state", "stolen")
		d.fail(t, "takes no arguments", "token", "list", "alice")
	})

	actions, events := d.tokenEvents(t)
	want := []string{"token.import", "token.assign alice", "token.assign alice", "token.assign bob", "token.assign bob", "token.assign bob"}
	if !slices.Equal(actions, want) {
		t.Fatalf("got %q, want %q", actions, want)
	}
	contains(t, events[1].Detail, `token HW-HOTP-1 (hotp) as device "token HW-HOTP-1" (id `+dev0(t, d, "alice", "HW-HOTP-1")+")")
}

// dev0 returns the id of user's device of the token serial.
func dev0(t *testing.T, d *tokenDesk, user, serial string) string {
	t.Helper()
	_, dev, ok := d.device(t, user, serial)
	if !ok {
		t.Fatalf("%s has no device of token %s", user, serial)
	}
	return dev.ID
}

func TestTokenUnassignLost(t *testing.T) {
	d := newTokenDesk(t)
	d.must(t, "token", "import", d.write(t, "tokens.csv", tokensCSV()))
	d.must(t, "token", "assign", "HW-HOTP-1", "alice")
	d.must(t, "token", "assign", "HW-TOTP-1", "bob")
	d.must(t, "token", "assign", "HW-HOTP-2", "bob")
	hotpID, totpID := dev0(t, d, "alice", "HW-HOTP-1"), dev0(t, d, "bob", "HW-TOTP-1")
	state := func(serial string) string {
		t.Helper()
		for _, tok := range d.list(t) {
			if tok.Serial == serial {
				return tok.State
			}
		}
		return "missing"
	}

	out := d.must(t, "token", "unassign", "HW-HOTP-1")
	contains(t, out, `token HW-HOTP-1 is back in the inventory, unassigned: device "token HW-HOTP-1" (id `+hotpID+`) of alice is removed and no longer logs in on any node`,
		"alice has no device left")
	if _, _, ok := d.device(t, "alice", "HW-HOTP-1"); ok || state("HW-HOTP-1") != "unassigned" {
		t.Errorf("after unassign: alice's device still there or token %s", state("HW-HOTP-1"))
	}
	contains(t, d.must(t, "token", "unassign", "HW-HOTP-1"), "token HW-HOTP-1 is already unassigned; nothing changed")
	// Handed back, it goes to someone else.
	d.must(t, "token", "assign", "HW-HOTP-1", "bob")

	out = d.must(t, "token", "lost", "HW-TOTP-1")
	contains(t, out, `marked token HW-TOTP-1 lost: device "token HW-TOTP-1" (id `+totpID+`) of bob is removed and no longer logs in on any node`,
		"cannot be assigned again", "twostepctl -config "+d.config+" token unassign HW-TOTP-1")
	if strings.Contains(out, "no device left") {
		t.Errorf("got:\n%s\nbob has devices left", out)
	}
	if _, _, ok := d.device(t, "bob", "HW-TOTP-1"); ok || state("HW-TOTP-1") != "lost" {
		t.Errorf("after lost: bob's device still there or token %s", state("HW-TOTP-1"))
	}
	contains(t, d.must(t, "devices", "bob"), "token HW-HOTP-2", "token HW-HOTP-1")
	contains(t, d.must(t, "token", "lost", "HW-TOTP-1"), "already lost; nothing changed")
	d.fail(t, "token HW-TOTP-1 is marked lost; nothing changed", "token", "assign", "HW-TOTP-1", "alice")
	// Found again.
	contains(t, d.must(t, "token", "unassign", "HW-TOTP-1"), "token HW-TOTP-1, marked lost, is back in the inventory, unassigned")
	d.must(t, "token", "assign", "HW-TOTP-1", "alice")
	// Lost from the shelf.
	contains(t, d.must(t, "token", "lost", "HW-DUP"), "marked token HW-DUP lost (it was unassigned)")
	// Removing a token's device marks the token lost.
	d.must(t, "device", "remove", "-yes", "bob", "token HW-HOTP-2")
	if got := state("HW-HOTP-2"); got != "lost" {
		t.Errorf("after device remove: token %s, want lost", got)
	}
	d.fail(t, `no token "HW-9999"`, "token", "lost", "HW-9999")
	d.fail(t, "want SERIAL, got 0 arguments", "token", "unassign")

	actions, events := d.tokenEvents(t)
	want := []string{"token.import", "token.assign alice", "token.assign bob", "token.assign bob",
		"token.unassign alice", "token.assign bob", "token.lost bob", "token.unassign", "token.assign alice", "token.lost"}
	if !slices.Equal(actions, want) {
		t.Fatalf("got %q, want %q", actions, want)
	}
	contains(t, events[4].Detail, "token HW-HOTP-1 (hotp)", hotpID, "removed")
	contains(t, events[6].Detail, "token HW-TOTP-1 (totp)", totpID, "removed")
	contains(t, events[7].Detail, "was lost")
}

// TestTokenLostUserKey: the device of a user whose name is escaped in
// the cluster's keys (here "müller") stops working too.
func TestTokenLostUserKey(t *testing.T) {
	d := newTokenDesk(t)
	mustCtl(t, "pw-of-müller\n", "user", "add", "-users", filepath.Join(filepath.Dir(d.config), "users.yaml"), "müller")
	d.must(t, "token", "import", d.write(t, "tokens.csv", tokensCSV()))
	for _, cmd := range []string{"lost", "unassign"} {
		t.Run(cmd, func(t *testing.T) {
			d.must(t, "token", "assign", "-name", "token", "HW-HOTP-2", "müller")
			d.must(t, "token", "assign", "HW-TOTP-1", "müller")
			contains(t, d.must(t, "token", "list", "-user", "MÜLLER"), "HW-HOTP-2", "müller")
			contains(t, d.must(t, "token", cmd, "HW-HOTP-2"), `device "token" (id `, "of müller is removed")
			if _, _, ok := d.device(t, "müller", "HW-HOTP-2"); ok {
				t.Errorf("token %s: müller's device of it is still there", cmd)
			}
			contains(t, d.must(t, "token", cmd, "HW-TOTP-1"), "müller has no device left")
			d.must(t, "token", "unassign", "HW-HOTP-2")
			d.must(t, "token", "unassign", "HW-TOTP-1")
		})
	}
}

func TestTokenResync(t *testing.T) {
	d := newTokenDesk(t)
	d.must(t, "token", "import", d.write(t, "tokens.csv", tokensCSV()))
	d.must(t, "token", "assign", "HW-HOTP-1", "alice")
	d.must(t, "token", "assign", "HW-TOTP-1", "alice")
	rfc := otp.HOTP{Secret: rfcSeed}
	code := func(counter uint64) string {
		c := rfc.Code(counter)
		d.codes = append(d.codes, c)
		return c
	}
	last := func() int64 {
		t.Helper()
		acct, dev, _ := d.device(t, "alice", "HW-HOTP-1")
		u, ok := acct.Used[dev.ID]
		if !ok {
			return -1
		}
		return u.Step
	}

	// 50 presses that never reached the server: code 50 is beyond the
	// look-ahead of a login.
	if _, ok := rfc.Check(code(50), 0, otp.DefaultHOTPWindow); ok {
		t.Fatal("code 50 accepted from counter 0 without a resync")
	}
	steps := []struct {
		name     string
		args     []string
		want     string
		wantErr  bool
		wantLast int64
	}{
		{"not consecutive", []string{code(50), code(52)}, "the two codes must come from two consecutive presses, in order, within 100 presses", true, -1},
		{"in the wrong order", []string{code(51), code(50)}, "two consecutive presses", true, -1},
		{"beyond the window", []string{code(150), code(151)}, "within 100 presses", true, -1},
		{"the same code twice", []string{code(50), code(50)}, "the two codes are the same", true, -1},
		{"a code too short", []string{"12345", code(51)}, "shows 6-digit codes", true, -1},
		{"not digits", []string{"12345x", code(51)}, "want CODE1 and CODE2 as the token shows them, digits only", true, -1},
		{"two consecutive codes", []string{code(50), "  " + code(51)[:3] + " " + code(51)[3:]}, "resynchronised token HW-HOTP-1 of alice: the counter moved 52 presses ahead; the next code is accepted", false, 51},
		{"the same codes again", []string{code(50), code(51)}, "two consecutive presses", true, 51},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, _, err := d.run(t, append([]string{"token", "resync", "HW-HOTP-1"}, s.args...)...)
			switch {
			case s.wantErr && (err == nil || !strings.Contains(err.Error(), s.want)):
				t.Errorf("got %v, want an error with %q", err, s.want)
			case !s.wantErr && err != nil:
				t.Errorf("got %v\n%s", err, out)
			case !s.wantErr:
				contains(t, out, s.want)
			}
			if got := last(); got != s.wantLast {
				t.Errorf("the last counter: got %d, want %d", got, s.wantLast)
			}
		})
	}
	// The next press logs in; the resync's codes are used up.
	acct, dev, _ := d.device(t, "alice", "HW-HOTP-1")
	h := otp.HOTP{Secret: dev.Secret, Digits: dev.Digits}
	from := uint64(acct.Used[dev.ID].Step + 1)
	if _, ok := h.Check(code(51), from, otp.DefaultHOTPWindow); ok {
		t.Error("code 51, used by the resync, accepted")
	}
	if next, ok := h.Check(code(52), from, otp.DefaultHOTPWindow); !ok || next != 53 {
		t.Errorf("code 52: got %d, %v; want it accepted", next, ok)
	}

	d.fail(t, "token HW-TOTP-1 is totp (time-based): its codes follow the clock, not button presses, so it needs no resync", "token", "resync", "HW-TOTP-1", "123456", "234567")
	d.fail(t, "token HW-HOTP-2 is unassigned: only an assigned token is resynchronised", "token", "resync", "HW-HOTP-2", "123456", "234567")
	d.fail(t, `no token "HW-9999"`, "token", "resync", "HW-9999", "123456", "234567")
	d.fail(t, "want SERIAL CODE1 CODE2, got 2 arguments", "token", "resync", "HW-HOTP-1", "123456")

	actions, events := d.tokenEvents(t)
	want := []string{"token.import", "token.assign alice", "token.assign alice",
		"token.resync alice", "token.resync alice", "token.resync alice", "token.resync alice", "token.resync alice"}
	if !slices.Equal(actions, want) {
		t.Fatalf("got %q, want %q", actions, want)
	}
	contains(t, events[3].Detail, "token HW-HOTP-1 refused")
	contains(t, events[6].Detail, "token HW-HOTP-1, device "+dev.ID+": counter moved 52 ahead")
}

func TestTokenHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"Hardware tokens", "token import", "token list", "token assign", "token unassign", "token lost", "token resync"}},
		{[]string{"token", "-h"}, []string{"Usage: twostepctl token COMMAND", "import", "list", "assign", "unassign", "lost", "resync"}},
		{[]string{"token", "import", "-h"}, []string{"Usage: twostepctl token import", "Examples:", "-psk-file file", "-psk-hex hex", "all or nothing", "raw 16, 24 or 32 bytes"}},
		{[]string{"help", "token", "list"}, []string{"Usage: twostepctl token list", "Examples:", "-state state", "-user user", "-json", "never"}},
		{[]string{"token", "assign", "-h"}, []string{"Usage: twostepctl token assign", "Examples:", "-name name", "presses the button once"}},
		{[]string{"token", "unassign", "-h"}, []string{"Usage: twostepctl token unassign", "Example:", "hands it in"}},
		{[]string{"token", "lost", "-h"}, []string{"Usage: twostepctl token lost", "Example:", "every"}},
		{[]string{"token", "resync", "-h"}, []string{"Usage: twostepctl token resync", "Example:", "passcodes.resync_window", "needs no"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, err := ctl(t, "", tt.args...)
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			contains(t, out, tt.want...)
			if errOut != "" {
				t.Errorf("stderr: got %q, want nothing", errOut)
			}
		})
	}
	for _, args := range [][]string{{"token"}, {"token", "burn", "H-1"}} {
		if _, _, err := ctl(t, "", args...); err == nil || !strings.Contains(err.Error(), "token command") {
			t.Errorf("twostepctl %q: got %v, want an error naming the token command", args, err)
		}
	}
}

func TestTokenDeviceName(t *testing.T) {
	tests := []struct{ serial, want string }{
		{"H-0001", "token H-0001"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "token ABCDEFGHIJKLMNOPQRSTUVWXYZ"}, // 32 bytes
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ0", "token …EFGHIJKLMNOPQRSTUVWXYZ0"},
		// A cut inside a rune moves to the next one.
		{"ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ", "token …ÄÄÄÄÄÄÄÄÄÄÄ"},
	}
	for _, tt := range tests {
		got := tokenDeviceName(tt.serial)
		if got != tt.want || checkDeviceName(got) != nil {
			t.Errorf("tokenDeviceName(%q): got %q, want %q (a valid name)", tt.serial, got, tt.want)
		}
	}
}

func TestHexPSK(t *testing.T) {
	tests := []struct {
		in   string
		want int // key length, 0 when refused
	}{
		{"0f1e2d3c4b5a69788796a5b4c3d2e1f0", 16},
		{"0F1E2D3C 4B5A6978 8796A5B4 C3D2E1F0\n", 16},
		{"0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0:00:01:02:03:04:05:06:07", 24},
		{strings.Repeat("ab", 32), 32},
		{"0f1e2d3c", 0},
		{strings.Repeat("ab", 20), 0},
		{"0f1e2d3c4b5a69788796a5b4c3d2e1fg", 0},
		{"", 0},
	}
	for _, tt := range tests {
		key, ok := hexPSK(tt.in)
		if ok != (tt.want > 0) || len(key) != tt.want {
			t.Errorf("hexPSK(%q): got %d bytes, %v; want %d", tt.in, len(key), ok, tt.want)
		}
	}
}
