package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/tokenfile"
)

// The hardware token inventory: tokens come in unassigned from the
// vendor's seed file, are assigned to users (each becomes one of the
// user's devices), come back when handed in, or are marked lost.

const tokenUsage = `Usage: twostepctl token COMMAND [FLAGS] ARGS

Hardware OATH tokens (a button that shows a code) are kept in an
inventory in the cluster's etcd, their seeds sealed like every other
seed. A token comes in unassigned from the vendor's seed file, is assigned
to a user (it becomes one of the user's devices and logs in like an app),
and comes back when handed in, or is marked lost. Every change goes to
the audit trail (` + "`twostepctl audit`" + `); no command shows a seed or a code.

  import    import the vendor's CSV or PSKC seed file, all or nothing
  list      list the tokens: serial, type, state, user, model
  assign    make an unassigned token a device of a user
  unassign  take a token handed back from its user into the inventory
  lost      mark a token lost: its device stops working on every node
  resync    resynchronise an HOTP token whose counter ran far ahead

Run ` + "`twostepctl token COMMAND -h`" + ` for a command's flags and examples.
`

func (c *cli) token(ctx context.Context, args []string) error {
	return c.group(ctx, "token", tokenUsage, args, map[string]subcommand{
		"import": c.tokenImport,
		"list":   c.tokenList,
		"assign": c.tokenAssign,
		"unassign": func(ctx context.Context, args []string) error {
			return c.tokenRelease(ctx, args, cluster.TokenUnassigned)
		},
		"lost":   func(ctx context.Context, args []string) error { return c.tokenRelease(ctx, args, cluster.TokenLost) },
		"resync": c.tokenResync,
	})
}

const tokenImportUsage = `Usage: twostepctl token import [-psk-file FILE | -psk-hex HEX] FILE

Import the hardware tokens of FILE, the seed file the vendor shipped with
them, into the inventory, unassigned. FILE is CSV or PSKC (RFC 6030 XML):
PSKC when it starts with "<" or is named .xml, .pskc or .pskcxml.

The import is all or nothing. A file with any problem is refused whole,
with every problem and its line; a file with a serial already in the
inventory is refused whole, with those serials. Nothing is imported then:
correct the file and import it again.

A CSV file has a header line naming its columns, in any order:
serial,secret,type,digits,period,algorithm,counter,manufacturer,model,issuer
(serial and secret are required; type defaults to hotp, digits to 6,
algorithm to SHA1, a totp period to 30 seconds). A secret is hex or base32.

An encrypted PSKC file needs the pre-shared key (PSK) the vendor sent
apart from it: -psk-file names a file that holds the key either in hex
(32, 48 or 64 hex digits, for AES-128, -192 or -256; spaces and a final
newline are allowed) or as the raw 16, 24 or 32 bytes; a file of hex
digits only is read as hex. -psk-hex gives the key on the command line,
where it shows in ps and the shell's history: prefer -psk-file. A plain
file needs no key.

Seeds are sealed with the cluster's seed keys (cluster.seed_keys) before
they are written; the file itself still holds them in the clear (or under
the PSK): keep it, and the PSK, where the seed key file is kept, or
delete them once imported. Files of more than a few hundred tokens show
their progress on stderr.

Examples:
  twostepctl token import tokens.csv
  twostepctl token import -psk-file shipment-0042.key shipment-0042.pskcxml
  twostepctl token import -psk-hex 0f1e2d3c4b5a69788796a5b4c3d2e1f0 tokens.xml

Flags:
`

// Import settings.
const (
	// progressMin is the number of tokens from which import shows its
	// progress on stderr.
	progressMin = 300
	// progressEvery is how often a running import says it still runs.
	progressEvery = 2 * time.Second
	// importBatch is cluster.ImportTokens' transaction size: each gets
	// opTimeout.
	importBatch = 100
	// maxPSKFile bounds a -psk-file: a key in hex with spaces is well
	// under it.
	maxPSKFile = 1024
)

func (c *cli) tokenImport(ctx context.Context, args []string) error {
	f := c.storeFlags("token import", tokenImportUsage)
	pskFile := f.fs.String("psk-file", "", "the pre-shared key of an encrypted PSKC file: a `file` holding it in hex, or its raw 16, 24 or 32 bytes")
	pskHex := f.fs.String("psk-hex", "", "the pre-shared key in `hex` (32, 48 or 64 digits); shows in ps: prefer -psk-file")
	pos, err := c.parseArgs(f, args, "FILE")
	if err != nil {
		return err
	}
	path := pos[0]
	set := setFlags(f.fs)
	if set["psk-file"] && set["psk-hex"] {
		return errors.New("twostepctl token import: give the pre-shared key once: -psk-file or -psk-hex, not both")
	}
	psk, err := readPSK(*pskFile, *pskHex, set)
	if err != nil {
		return err
	}
	defer clear(psk)
	// The file first: no connection is worth making for a file refused.
	tokens, err := readTokenFile(path, psk)
	if err != nil {
		return err
	}
	defer func() {
		for i := range tokens {
			clear(tokens[i].Secret)
		}
	}()
	if len(tokens) == 0 {
		return fmt.Errorf("%s holds no token; nothing was imported", path)
	}

	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	// The inventory is checked first, to name every serial already there;
	// ImportTokens checks again, in its transactions.
	octx, cancel := op(ctx)
	have, err := s.accounts.Tokens(octx)
	cancel()
	if err != nil {
		return fmt.Errorf("nothing was imported: %w", s.storeErr(err))
	}
	if dups := alreadyIn(tokens, have); len(dups) > 0 {
		return fmt.Errorf("nothing was imported: %s of %s already in the inventory: %s; remove those lines from the file, or ask the vendor whether it is the right file",
			count(len(dups), "token", "tokens"), path, serialList(dups))
	}

	in := make([]cluster.Token, len(tokens))
	kinds := map[cluster.DeviceType]int{}
	for i, t := range tokens {
		in[i] = inventoryToken(t)
		kinds[in[i].Type]++
	}
	now := c.now()
	stop := c.importProgress(len(in))
	octx, cancel = context.WithTimeout(ctx, opTimeout*time.Duration(1+len(in)/importBatch))
	// The trail names the file wherever the command ran from.
	where := path
	if abs, err := filepath.Abs(path); err == nil {
		where = abs
	}
	err = s.as("from "+where).ImportTokens(octx, in, now)
	cancel()
	stop(err == nil)
	switch {
	case errors.Is(err, cluster.ErrTokenExists):
		// Another admin imported some of them meanwhile.
		return fmt.Errorf("%w; see `%s`", err, s.command("token", "list"))
	case err != nil:
		return fmt.Errorf("%w; check with `%s` and import the file again", s.storeErr(err), s.command("token", "list"))
	}

	summary := make([]string, 0, 2)
	for _, k := range []cluster.DeviceType{cluster.HOTP, cluster.TOTP} {
		if kinds[k] > 0 {
			summary = append(summary, fmt.Sprintf("%d %s", kinds[k], k))
		}
	}
	fmt.Fprintf(c.stdout, "imported %s: %s; all unassigned\n", count(len(in), "token", "tokens"), strings.Join(summary, ", "))
	if expired := expiredTokens(tokens, now); len(expired) > 0 {
		fmt.Fprintf(c.stdout, "note: the file says %s expired (%s); imported all the same, as the tokens may still work\n",
			count(len(expired), "token has", "tokens have"), serialList(expired))
	}
	fmt.Fprintf(c.stdout, "Assign one with `%s`; list them with `%s`.\n", s.command("token", "assign", "SERIAL", "USER"), s.command("token", "list", "-state", "unassigned"))
	return nil
}

// readPSK returns the pre-shared key -psk-file or -psk-hex gives, nil
// when neither is given. No error quotes the key.
func readPSK(file, hexKey string, set map[string]bool) ([]byte, error) {
	switch {
	case set["psk-hex"]:
		key, ok := hexPSK(hexKey)
		if !ok {
			return nil, errors.New("twostepctl token import: -psk-hex: want the key in hex, 32, 48 or 64 digits (AES-128, -192 or -256)")
		}
		return key, nil
	case !set["psk-file"]:
		return nil, nil
	}
	fh, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("twostepctl token import: -psk-file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxPSKFile+1))
	if err != nil {
		return nil, fmt.Errorf("twostepctl token import: -psk-file: %w", err)
	}
	defer clear(data)
	if key, ok := hexPSK(string(data)); ok {
		return key, nil
	}
	if n := len(data); n == 16 || n == 24 || n == 32 {
		return slices.Clone(data), nil
	}
	return nil, fmt.Errorf("twostepctl token import: -psk-file %s: want the key in hex (32, 48 or 64 hex digits) or as its raw 16, 24 or 32 bytes; the file holds %d bytes", file, len(data))
}

// hexPSK reads a key written in hex, with spaces, colons and line ends
// allowed between the digits; ok is false unless it is an AES key.
func hexPSK(s string) ([]byte, bool) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == ':' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, s)
	key, err := hex.DecodeString(s)
	if err != nil {
		return nil, false
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, false
	}
	return key, true
}

// readTokenFile reads the vendor's file, whole or not at all, and says
// what to do about a refused one.
func readTokenFile(path string, psk []byte) ([]tokenfile.Token, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("twostepctl token import: %w", err)
	}
	defer fh.Close()
	tokens, err := tokenfile.Read(path, fh, psk)
	switch {
	case err == nil:
		return tokens, nil
	case errors.Is(err, tokenfile.ErrKeyNeeded):
		return nil, fmt.Errorf("%w\nnothing was imported: give the pre-shared key the vendor sent apart from the file, with -psk-file FILE", err)
	case errors.Is(err, tokenfile.ErrWrongKey):
		return nil, fmt.Errorf("%w\nnothing was imported: check that the key given is this file's (vendors send one per shipment)", err)
	}
	if _, ok := errors.AsType[*tokenfile.Error](err); ok {
		return nil, fmt.Errorf("%w\nnothing was imported: the file is refused whole; correct it (or ask the vendor for a new one) and import it again", err)
	}
	return nil, fmt.Errorf("nothing was imported: %w", err)
}

// inventoryToken is a token of the file as the inventory keeps it.
func inventoryToken(t tokenfile.Token) cluster.Token {
	typ := cluster.TOTP
	if t.Type == tokenfile.HOTP {
		typ = cluster.HOTP
	}
	model := t.Model
	// The listing has one column for both: "Feitian c100".
	switch {
	case model == "":
		model = t.Manufacturer
	case t.Manufacturer != "" && !strings.HasPrefix(strings.ToLower(model), strings.ToLower(t.Manufacturer)):
		model = t.Manufacturer + " " + model
	}
	return cluster.Token{
		Serial: t.Serial, Type: typ, Algorithm: t.Algorithm, Digits: t.Digits, Period: t.Period,
		Counter: t.Counter, Model: model, Issuer: t.Issuer, Secret: t.Secret,
	}
}

// alreadyIn returns the serials of tokens that have has.
func alreadyIn(tokens []tokenfile.Token, have []cluster.Token) []string {
	known := make(map[string]bool, len(have))
	for _, t := range have {
		known[t.Serial] = true
	}
	var dups []string
	for _, t := range tokens {
		if known[t.Serial] {
			dups = append(dups, t.Serial)
		}
	}
	return dups
}

// expiredTokens returns the serials of tokens whose file says they
// expired before now.
func expiredTokens(tokens []tokenfile.Token, now time.Time) []string {
	var out []string
	for _, t := range tokens {
		if !t.NotAfter.IsZero() && t.NotAfter.Before(now) {
			out = append(out, t.Serial)
		}
	}
	return out
}

// serialList names serials in a message, the first ten of them.
func serialList(serials []string) string {
	const shown = 10
	if len(serials) <= shown {
		return strings.Join(serials, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(serials[:shown], ", "), len(serials)-shown)
}

// importProgress says on stderr that an import of n tokens runs, and
// every progressEvery that it still does, for imports of progressMin
// tokens or more. The returned stop ends the reports and says how it
// ended; it returns once the reporting goroutine has.
func (c *cli) importProgress(n int) (stop func(ok bool)) {
	if n < progressMin {
		return func(bool) {}
	}
	start := time.Now()
	fmt.Fprintf(c.stderr, "sealing and writing %d tokens, all or nothing (%d transactions)...\n", n, (n+importBatch-1)/importBatch)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(c.stderr, "still importing %d tokens: %s\n", n, time.Since(start).Round(time.Second))
			}
		}
	})
	return func(ok bool) {
		close(done)
		wg.Wait()
		if ok {
			fmt.Fprintf(c.stderr, "sealed and wrote %d/%d tokens in %s\n", n, n, time.Since(start).Round(10*time.Millisecond))
		}
	}
}

const tokenListUsage = `Usage: twostepctl token list [-state unassigned|assigned|lost] [-user USER] [-json]

List the hardware tokens of the inventory, sorted by serial: serial, type,
settings (algorithm/digits, and the period of a totp token), state, the
user it is assigned to, model and when it was imported. Seeds are never
shown.

-state shows the tokens in one state: unassigned (in stock), assigned or
lost. -user shows the tokens assigned to USER (compared without case).
-json prints a JSON array of {serial, type, algorithm, digits,
period_seconds, counter, state, user, device_id, model, issuer, imported,
changed}; counter is the first counter of an hotp token, as imported.

Examples:
  twostepctl token list
  twostepctl token list -state unassigned
  twostepctl token list -user alice
  twostepctl token list -json | jq -r '.[] | select(.state == "lost") | .serial'

Flags:
`

// tokenJSON is a token as `token list -json` shows it: never its seed.
type tokenJSON struct {
	Serial        string    `json:"serial"`
	Type          string    `json:"type"`
	Algorithm     string    `json:"algorithm"`
	Digits        int       `json:"digits"`
	PeriodSeconds int       `json:"period_seconds,omitempty"`
	Counter       uint64    `json:"counter,omitempty"`
	State         string    `json:"state"`
	User          string    `json:"user,omitempty"`
	DeviceID      string    `json:"device_id,omitempty"`
	Model         string    `json:"model,omitempty"`
	Issuer        string    `json:"issuer,omitempty"`
	Imported      time.Time `json:"imported"`
	Changed       time.Time `json:"changed"`
}

func tokenInfo(t cluster.Token) tokenJSON {
	return tokenJSON{
		Serial: t.Serial, Type: string(t.Type), Algorithm: t.Algorithm, Digits: t.Digits,
		PeriodSeconds: int(t.Period / time.Second), Counter: t.Counter, State: string(t.State),
		User: tokenUser(t), DeviceID: t.DeviceID, Model: t.Model, Issuer: t.Issuer,
		Imported: t.Imported.UTC(), Changed: t.Changed.UTC(),
	}
}

// tokenUser is the account a token is assigned to, "" when none. The
// inventory keeps it as the key of the user's records: lower case and
// path-escaped.
func tokenUser(t cluster.Token) string {
	if u, err := url.PathUnescape(t.User); err == nil {
		return u
	}
	return t.User
}

// tokenParams shows a token's settings: SHA1/6 for hotp, SHA1/6/30s for
// totp.
func tokenParams(t cluster.Token) string {
	if t.Type == cluster.TOTP {
		return fmt.Sprintf("%s/%d/%ds", t.Algorithm, t.Digits, int(t.Period/time.Second))
	}
	return fmt.Sprintf("%s/%d", t.Algorithm, t.Digits)
}

func (c *cli) tokenList(ctx context.Context, args []string) error {
	f := c.storeFlags("token list", tokenListUsage)
	state := f.fs.String("state", "", "show only the tokens in this `state`: unassigned, assigned or lost")
	user := f.fs.String("user", "", "show only the tokens assigned to this `user`")
	asJSON := f.fs.Bool("json", false, "print a JSON array: serial, type, algorithm, digits, period_seconds, counter, state, user, device_id, model, issuer, imported, changed")
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("twostepctl token list: takes no arguments, got %q; for one user's tokens: -user USER", pos)
	}
	switch cluster.TokenState(*state) {
	case "", cluster.TokenUnassigned, cluster.TokenAssigned, cluster.TokenLost:
	default:
		return fmt.Errorf("twostepctl token list: -state %q: want unassigned, assigned or lost", *state)
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	octx, cancel := op(ctx)
	all, err := s.accounts.Tokens(octx)
	cancel()
	if err != nil {
		return s.storeErr(err)
	}
	tokens := slices.DeleteFunc(all, func(t cluster.Token) bool {
		return (*state != "" && string(t.State) != *state) ||
			(*user != "" && (t.State != cluster.TokenAssigned || !strings.EqualFold(t.User, *user)))
	})
	if *asJSON {
		out := make([]tokenJSON, 0, len(tokens))
		for _, t := range tokens {
			out = append(out, tokenInfo(t))
		}
		return writeJSON(c.stdout, out)
	}
	if len(tokens) == 0 {
		switch {
		case *state == "" && *user == "":
			fmt.Fprintln(c.stdout, "the inventory holds no token; import the vendor's seed file with: "+s.command("token", "import", "FILE"))
		case *user != "":
			fmt.Fprintf(c.stdout, "no token is assigned to %s%s\n", *user, stateNote(*state))
		default:
			fmt.Fprintf(c.stdout, "no token is %s\n", *state)
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tTYPE\tPARAMS\tSTATE\tUSER\tMODEL\tIMPORTED")
	for _, t := range tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Serial, t.Type, tokenParams(t), t.State,
			orDash(tokenUser(t)), orDash(t.Model), timeText(t.Imported))
	}
	return tw.Flush()
}

func stateNote(state string) string {
	if state == "" {
		return ""
	}
	return " in state " + state
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

const tokenAssignUsage = `Usage: twostepctl token assign [-name NAME] SERIAL USER

Assign the unassigned token SERIAL to USER, who must exist in the
directory: the token becomes one of USER's devices and logs in on every
node at once, as an app does. The device is named "token SERIAL" unless
-name says otherwise (a long serial is cut to its last characters: names
are at most 32). It shows in ` + "`twostepctl devices USER`" + `; removing it there
marks the token lost.

An hotp token (a code per button press) starts at the counter its file
gave: the user presses the button once and logs in with that code.

Examples:
  twostepctl token assign H-0001 alice
  twostepctl token assign -name "spare token" T-0003 alice

Flags:
`

func (c *cli) tokenAssign(ctx context.Context, args []string) error {
	f := c.storeFlags("token assign", tokenAssignUsage)
	name := f.fs.String("name", "", "the device's `name`, 1 to 32 characters; default \"token SERIAL\"")
	pos, err := c.parseArgs(f, args, "SERIAL", "USER")
	if err != nil {
		return err
	}
	serial := pos[0]
	if *name != "" {
		if err := checkDeviceName(*name); err != nil {
			return err
		}
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	user, err := s.mustExist(ctx, pos[1])
	if err != nil {
		return err
	}
	t, err := s.token(ctx, serial)
	if err != nil {
		return err
	}
	switch t.State {
	case cluster.TokenAssigned:
		return fmt.Errorf("token %s is already assigned to %s; nothing changed (to give it to another user: `%s` first)", serial, tokenUser(t), s.command("token", "unassign", serial))
	case cluster.TokenLost:
		return fmt.Errorf("token %s is marked lost; nothing changed (if it was found: `%s` returns it to the inventory)", serial, s.command("token", "unassign", serial))
	}
	devName := *name
	if devName == "" {
		devName = tokenDeviceName(serial)
	}
	acct, err := s.load(ctx, user)
	if err != nil {
		return err
	}
	for _, d := range acct.Devices {
		if strings.EqualFold(d.Name, devName) {
			return fmt.Errorf("%s already has a device named %q (id %s); nothing changed: give another name with -name, or rename that one with `%s`", user, d.Name, d.ID, s.command("device", "rename", user, d.ID, "NEWNAME"))
		}
	}
	octx, cancel := op(ctx)
	dev, err := s.accounts.AssignToken(octx, serial, user, devName, c.now())
	cancel()
	switch {
	case errors.Is(err, cluster.ErrDeviceName):
		// A device added meanwhile took the name.
		return fmt.Errorf("%w; nothing changed: give another name with -name", err)
	case errors.Is(err, cluster.ErrDeviceLimit):
		return fmt.Errorf("%s has %d devices, the most a user may have; nothing changed: remove one first (`%s`)", user, cluster.MaxDevices, s.command("devices", user))
	case errors.Is(err, cluster.ErrDuplicateSeed):
		return fmt.Errorf("%w; nothing changed: the vendor shipped two tokens with one seed, and one user cannot have both", err)
	case errors.Is(err, cluster.ErrTokenState), errors.Is(err, cluster.ErrConflict):
		return fmt.Errorf("token %s or %s's devices changed meanwhile (another admin?); nothing changed: look with `%s` and run the command again", serial, user, s.command("token", "list"))
	case err != nil:
		return fmt.Errorf("nothing changed: %w", s.storeErr(err))
	}
	fmt.Fprintf(c.stdout, "assigned token %s (%s, %s) to %s as device %q (id %s); it logs in on every node at once\n",
		serial, t.Type, tokenParams(t), user, dev.Name, dev.ID)
	if t.Type == cluster.HOTP {
		fmt.Fprintf(c.stdout, "%s presses the token's button once and logs in with the code it shows. If codes are refused (the button was pressed many times), resynchronise it: %s\n", user, s.command("token", "resync", serial, "CODE1", "CODE2"))
	}
	return nil
}

// token reads serial from the inventory, with advice when it is not
// there.
func (s *session) token(ctx context.Context, serial string) (cluster.Token, error) {
	octx, cancel := op(ctx)
	defer cancel()
	t, err := s.accounts.Token(octx, serial)
	if errors.Is(err, cluster.ErrNoToken) {
		return t, fmt.Errorf("no token %q in the inventory; list them with `%s` (serials are compared exactly, case and all)", serial, s.command("token", "list"))
	}
	if err != nil {
		return t, s.storeErr(err)
	}
	return t, nil
}

// tokenDeviceName is the default name of a token's device: "token
// SERIAL", or, for a serial too long for a device name, "token …" and as
// much of the serial's end as fits (serials of a batch differ at their
// end).
func tokenDeviceName(serial string) string {
	name := "token " + serial
	if len(name) <= maxDeviceName {
		return name
	}
	const prefix = "token …"
	tail := serial[len(serial)-(maxDeviceName-len(prefix)):]
	for tail != "" && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return prefix + tail
}

const tokenUnassignUsage = `Usage: twostepctl token unassign SERIAL

Take token SERIAL back into the inventory, unassigned, as when its user
hands it in: its device is removed and stops working on every node at
once. The token can then be assigned to someone else. A token marked lost
that was found is returned to the inventory the same way.

Example:
  twostepctl token unassign H-0001

Flags:
`

const tokenLostUsage = `Usage: twostepctl token lost SERIAL

Mark token SERIAL lost: its device is removed and stops working on every
node at once, and the token cannot be assigned again. Its user then logs
in with another device, or with a bypass code while a new token is
assigned (` + "`twostepctl bypass issue -profile long USER`" + `). If the token
turns up again, ` + "`twostepctl token unassign SERIAL`" + ` returns it to the
inventory.

Removing a token's device with ` + "`twostepctl device remove`" + ` marks the
token lost too.

Example:
  twostepctl token lost H-0001

Flags:
`

// tokenRelease is `token unassign` (to is TokenUnassigned) and `token
// lost` (TokenLost).
func (c *cli) tokenRelease(ctx context.Context, args []string, to cluster.TokenState) error {
	name, usage := "token unassign", tokenUnassignUsage
	if to == cluster.TokenLost {
		name, usage = "token lost", tokenLostUsage
	}
	f := c.storeFlags(name, usage)
	pos, err := c.parseArgs(f, args, "SERIAL")
	if err != nil {
		return err
	}
	serial := pos[0]
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	t, err := s.token(ctx, serial)
	if err != nil {
		return err
	}
	if t.State == to {
		fmt.Fprintf(c.stdout, "token %s is already %s; nothing changed\n", serial, to)
		return nil
	}
	// The device's name, for the message (the inventory has only its id),
	// and how many devices the user keeps once the transaction removed it.
	var dev cluster.Device
	left := -1
	user := tokenUser(t)
	if t.State == cluster.TokenAssigned {
		if acct, err := s.load(ctx, user); err == nil {
			dev, _ = acct.Device(t.DeviceID)
			left = len(acct.Devices) - 1
		}
	}
	release := s.accounts.UnassignToken
	if to == cluster.TokenLost {
		release = s.accounts.MarkTokenLost
	}
	octx, cancel := op(ctx)
	before, err := release(octx, serial, c.now())
	cancel()
	switch {
	case errors.Is(err, cluster.ErrTokenState), errors.Is(err, cluster.ErrConflict):
		return fmt.Errorf("token %s changed meanwhile (another admin, or a login removing it?); nothing changed: look with `%s` and run the command again", serial, s.command("token", "list"))
	case err != nil:
		return fmt.Errorf("nothing changed: %w", s.storeErr(err))
	}

	var msg string
	devText := fmt.Sprintf("device %s", before.DeviceID)
	if dev.Name != "" {
		devText = fmt.Sprintf("device %q (id %s)", dev.Name, before.DeviceID)
	}
	switch {
	case before.State == cluster.TokenAssigned && to == cluster.TokenLost:
		msg = fmt.Sprintf("marked token %s lost: %s of %s is removed and no longer logs in on any node.\nThe token cannot be assigned again; if it turns up: %s", serial, devText, user, s.command("token", "unassign", serial))
	case before.State == cluster.TokenAssigned:
		msg = fmt.Sprintf("token %s is back in the inventory, unassigned: %s of %s is removed and no longer logs in on any node", serial, devText, user)
	case to == cluster.TokenLost:
		msg = fmt.Sprintf("marked token %s lost (it was %s): it cannot be assigned until it turns up (then: %s)", serial, before.State, s.command("token", "unassign", serial))
	default:
		msg = fmt.Sprintf("token %s, marked lost, is back in the inventory, unassigned: it can be assigned again", serial)
	}
	fmt.Fprintln(c.stdout, msg)
	if left == 0 {
		fmt.Fprintf(c.stdout, "%s has no device left: logins follow passcodes.unenrolled (default: refused); assign another token (%s), enroll an app, or issue a bypass code\n", user, s.command("token", "assign", "SERIAL", user))
	}
	return nil
}

const tokenResyncUsage = `Usage: twostepctl token resync SERIAL CODE1 CODE2

Resynchronise the hotp token SERIAL, assigned to a user, whose counter ran
ahead of the one the cluster keeps: its button was pressed many times
without logging in, so its codes are refused. Ask the user to press the
button, read the code, press again and read the second code: CODE1 and
CODE2, in that order. They are looked for within passcodes.resync_window
presses (default 100) of the last code accepted; when they are two
consecutive presses, the cluster's counter moves to them and the token's
next code logs in. The codes given are used up.

A totp token (time-based) follows the clock, not presses: it needs no
resync.

Example:
  twostepctl token resync H-0001 "123 456" 654321

Flags:
`

func (c *cli) tokenResync(ctx context.Context, args []string) error {
	f := c.storeFlags("token resync", tokenResyncUsage)
	pos, err := c.parseArgs(f, args, "SERIAL", "CODE1", "CODE2")
	if err != nil {
		return err
	}
	serial := pos[0]
	code1, ok1 := typedCode(pos[1])
	code2, ok2 := typedCode(pos[2])
	if !ok1 || !ok2 {
		// Not echoed: codes are secrets, even mistyped.
		return errors.New("twostepctl token resync: want CODE1 and CODE2 as the token shows them, digits only")
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	t, err := s.token(ctx, serial)
	if err != nil {
		return err
	}
	if t.Type != cluster.HOTP {
		return fmt.Errorf("token %s is %s (time-based): its codes follow the clock, not button presses, so it needs no resync; nothing changed. If its codes are refused, its clock may have drifted: replace it", serial, t.Type)
	}
	if t.State != cluster.TokenAssigned {
		return fmt.Errorf("token %s is %s: only an assigned token is resynchronised (the counter is kept with its user's device); nothing changed", serial, t.State)
	}
	user := tokenUser(t)
	acct, err := s.load(ctx, user)
	if err != nil {
		return err
	}
	dev, ok := acct.Device(t.DeviceID)
	if !ok {
		return fmt.Errorf("token %s is assigned to %s as device %s, which %s does not have (removed meanwhile?); nothing changed: look with `%s`", serial, user, t.DeviceID, user, s.command("devices", user))
	}
	h := otp.HOTP{Secret: dev.Secret, Algorithm: otp.Algorithm(dev.Algorithm), Digits: dev.Digits}
	switch {
	case len(code1) != dev.Digits || len(code2) != dev.Digits:
		return fmt.Errorf("token %s shows %d-digit codes: give two of them; nothing changed", serial, dev.Digits)
	case code1 == code2:
		return fmt.Errorf("the two codes are the same: press the button, read the code, press again and read the next; nothing changed")
	}
	next := uint64(0)
	if u, ok := acct.Used[dev.ID]; ok && u.Step >= 0 {
		next = uint64(u.Step) + 1
	}
	window := s.cfg.Passcodes.ResyncWindow
	newNext, ok := h.Resync(code1, code2, next, window)
	if !ok {
		err := fmt.Errorf("token %s is not resynchronised: the two codes must come from two consecutive presses, in order, within %d presses of the last code accepted (passcodes.resync_window); nothing changed. Press the button twice more and try again with those two codes (a token pressed further ahead than that needs a wider passcodes.resync_window, or replacing)", serial, window)
		if aerr := c.record(ctx, s, cluster.ActionTokenResync, user, fmt.Sprintf("token %s refused: the codes are not consecutive within %d presses", serial, window)); aerr != nil {
			return errors.Join(err, aerr)
		}
		return err
	}
	octx, cancel := op(ctx)
	err = s.accounts.UseStep(octx, user, dev.ID, int64(newNext-1), c.now())
	cancel()
	switch {
	case errors.Is(err, cluster.ErrReplay):
		return fmt.Errorf("token %s logged in meanwhile with a later code; nothing changed: it is in step already", serial)
	case err != nil:
		return fmt.Errorf("token %s is not resynchronised: %w", serial, s.storeErr(err))
	}
	ahead := newNext - next
	fmt.Fprintf(c.stdout, "resynchronised token %s of %s: the counter moved %s ahead; the next code is accepted\n", serial, user, count(int(ahead), "press", "presses"))
	detail := fmt.Sprintf("token %s, device %s: counter moved %d ahead", serial, dev.ID, ahead)
	if err := c.record(ctx, s, cluster.ActionTokenResync, user, detail); err != nil {
		return fmt.Errorf("the token is resynchronised: %w", err)
	}
	return nil
}
