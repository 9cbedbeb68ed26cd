package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"

	"twostep/challenge/otp"
	"twostep/cluster"
)

const enrollUsage = `Usage: twostepctl enroll [-name NAME] [-algorithm SHA1] [-digits 6] [-period 30s] [-png FILE] [-confirm=false] [-recovery CODE] [-json] USER

Enroll an authenticator app (Google Authenticator, Microsoft Authenticator,
Duo Mobile...) or a TOTP token for USER, who must exist in the directory.
A new secret is made and shown as a QR code, as a key to type by hand, and
as an otpauth:// URI. Then the code the app shows is asked for, up to 3
times, and the device is stored only when one is right; that code is used
up, so it cannot log in as well. From then on USER logs in with the
password and a code from the app, on every node at once.

Authenticator apps honour SHA1, 6 digits and 30s for sure; change them only
for a token that needs it.

The QR code, the key, the URI and the -png file hold the secret: show them
to the user only, and delete the PNG once it is scanned.

-recovery CODE is for a user who lost every device: the user proves who
they are with the recovery passcode the help desk gave them
(` + "`twostepctl recovery issue USER`" + `), typed as printed, spaces and all.
It is checked, and spent, before any secret is made or shown; a wrong,
used or expired passcode stores nothing. Once spent, it is gone even if
the enrollment then fails: issue a new one.

-confirm=false stores the device without asking for a code, for
provisioning by script; it is reported as unconfirmed. -json prints one
JSON object, {user, device: {id, name, type, algorithm, digits,
period_seconds, created}, uri, confirmed}, whose uri holds the secret (what
a provisioning script needs): keep that output secret. With -json and a
confirmation, the QR code and the prompt go to stderr.

Examples:
  twostepctl enroll alice
  twostepctl enroll -name "work phone" alice
  twostepctl enroll -png /root/alice-qr.png alice
  twostepctl enroll -recovery "123 456 789" alice
  twostepctl enroll -confirm=false -json alice > alice.json   # holds the secret

Flags:
`

// Enrollment settings.
const (
	// confirmTries is how many codes the admin may type before enroll
	// gives up and stores nothing.
	confirmTries = 3
	// defaultDeviceName is the first device's name; later ones get " 2",
	// " 3"...
	defaultDeviceName = "authenticator"
	// maxDeviceName is cluster.AddDevice's limit, checked before the QR
	// code is shown rather than after it was scanned.
	maxDeviceName = 32
	// pngSize is the -png image's width and height in pixels.
	pngSize = 320
)

// confirmWindow accepts the code of the step before and after now: the
// admin reads it off a phone whose clock may be a little off.
var confirmWindow = otp.Window{Back: 1, Ahead: 1}

// b32 writes keys as authenticator apps read them: RFC 4648 base32
// without padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// enrolled is the object `enroll -json` prints.
type enrolled struct {
	User      string     `json:"user"`
	Device    deviceJSON `json:"device"`
	URI       string     `json:"uri"`
	Confirmed bool       `json:"confirmed"`
}

func (c *cli) enroll(ctx context.Context, args []string) (err error) {
	f := c.storeFlags("enroll", enrollUsage)
	name := f.fs.String("name", "", "the device's `name`, 1 to 32 characters; default \"authenticator\" (\"authenticator 2\" when taken)")
	alg := f.fs.String("algorithm", string(otp.SHA1), "the HMAC `hash`: SHA1, SHA256 or SHA512")
	digits := f.fs.Int("digits", 6, "the code `length`: 6 or 8")
	period := f.fs.Duration("period", 30*time.Second, "the time `step`: 30s or 60s")
	png := f.fs.String("png", "", "also write the QR code to `file` (PNG, mode 0600: it holds the secret); never overwrites")
	confirm := f.fs.Bool("confirm", true, "ask for a code from the app before storing the device")
	asJSON := f.fs.Bool("json", false, "print a JSON object with the device and the otpauth URI, which holds the secret")
	recovery := f.fs.String("recovery", "", "the recovery passcode `code` the help desk gave a user who lost every device; spent before anything is shown")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	withRecovery := setFlags(f.fs)["recovery"]
	recoveryCode, ok := typedCode(*recovery)
	if withRecovery && !ok {
		// Not echoed: it may be the passcode with a typo.
		return errors.New("twostepctl enroll: -recovery: want the recovery passcode's digits, grouped as printed or not")
	}
	// Settings first: no connection is worth making for a typo.
	t := otp.TOTP{Algorithm: otp.Algorithm(strings.ToUpper(*alg)), Digits: *digits, Period: *period}
	if err := checkTOTPFlags(t); err != nil {
		return err
	}
	if *name != "" {
		if err := checkDeviceName(*name); err != nil {
			return err
		}
	}

	s, user, acct, err := c.openEnrollable(ctx, *f.config, pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	devName, err := s.pickDeviceName(acct, user, *name)
	if err != nil {
		return err
	}
	// The passcode is the proof that allows the rest: spent before any
	// secret is made or shown.
	stored := false
	if withRecovery {
		if err = c.useRecovery(ctx, s, user, recoveryCode); err != nil {
			return err
		}
		defer func() {
			if err != nil && !stored {
				err = fmt.Errorf("%w (the recovery passcode is spent: issue a new one with `%s`)", err, s.command("recovery", "issue", user))
			}
		}()
	}
	if t.Secret, err = otp.NewTOTPSecret(c.rand, t.Algorithm); err != nil {
		return err
	}
	uri := t.URI(s.cfg.Cluster.Issuer, user)
	qr, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		// The library's errors never quote the content.
		return fmt.Errorf("make the QR code: %w", err)
	}
	if *png != "" {
		if err := writePNG(qr, *png); err != nil {
			return err
		}
	}
	// A PNG of a secret that is not stored is worthless and still secret.
	defer func() {
		if *png != "" && !stored {
			os.Remove(*png)
		}
	}()

	show := c.stdout
	if *asJSON {
		show = c.stderr
	}
	if !*asJSON || *confirm {
		c.showEnrollment(show, t, qr, uri, user, devName, *png)
	}

	step := int64(0) // Spent: none
	if *confirm {
		if step, err = c.confirmCode(ctx, t, user, s.command("enroll", user)); err != nil {
			return err
		}
	}

	now := c.now()
	octx, cancel := op(ctx)
	// The confirmation code is spent with the device, so that the code
	// the admin saw cannot log in.
	dev, err := s.accounts.AddDevice(octx, user, cluster.Device{
		Name: devName, Type: cluster.TOTP, Created: now,
		Algorithm: string(t.Algorithm), Digits: t.Digits, Period: t.Period, Secret: t.Secret, Spent: step,
	})
	cancel()
	if err != nil {
		if errors.Is(err, cluster.ErrDeviceName) {
			return fmt.Errorf("%w; nothing stored: run enroll again", err)
		}
		return fmt.Errorf("nothing stored: %w", s.storeErr(err))
	}
	stored = true

	if *asJSON {
		out := enrolled{User: user, Device: deviceInfo(dev, cluster.UsedStep{}), URI: uri, Confirmed: *confirm}
		return writeJSON(c.stdout, out)
	}
	if *confirm {
		fmt.Fprintf(c.stdout, "enrolled device %q (id %s) for %s; the code just typed is used up, so the first login needs the next one.\n", dev.Name, dev.ID, user)
	} else {
		fmt.Fprintf(c.stdout, "enrolled device %q (id %s) for %s, unconfirmed: no code showed that the app reads it.\n", dev.Name, dev.ID, user)
	}
	if withRecovery {
		fmt.Fprintln(c.stdout, "The recovery passcode is spent: it cannot be used again.")
	}
	if n := len(acct.Devices) + 1; n > 1 {
		fmt.Fprintf(c.stdout, "%s has %d devices; list them with `%s`.\n", user, n, s.command("devices", user))
	}
	return nil
}

// checkTOTPFlags checks -algorithm, -digits and -period, naming the flag
// at fault.
func checkTOTPFlags(t otp.TOTP) error {
	switch {
	case t.Algorithm != otp.SHA1 && t.Algorithm != otp.SHA256 && t.Algorithm != otp.SHA512:
		return fmt.Errorf("twostepctl enroll: -algorithm %q: want SHA1, SHA256 or SHA512", string(t.Algorithm))
	case t.Digits != 6 && t.Digits != 8:
		return fmt.Errorf("twostepctl enroll: -digits %d: want 6 or 8", t.Digits)
	case t.Period != 30*time.Second && t.Period != 60*time.Second:
		return fmt.Errorf("twostepctl enroll: -period %s: want 30s or 60s", t.Period)
	}
	return nil
}

// checkDeviceName applies cluster.AddDevice's rule for names before
// anything is shown: 1 to 32 bytes of printable UTF-8.
func checkDeviceName(name string) error {
	if name == "" || len(name) > maxDeviceName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("device name %q refused: a name is 1 to %d printable characters", name, maxDeviceName)
	}
	return nil
}

// pickDeviceName returns the name a new device of acct gets: the one
// asked for, if free, or the first free of "authenticator",
// "authenticator 2"...
func (s *session) pickDeviceName(acct *cluster.Account, user, asked string) (string, error) {
	taken := func(n string) (cluster.Device, bool) {
		for _, d := range acct.Devices {
			if strings.EqualFold(d.Name, n) {
				return d, true
			}
		}
		return cluster.Device{}, false
	}
	if asked != "" {
		if d, ok := taken(asked); ok {
			return "", fmt.Errorf("%s already has a device named %q; choose another -name, or rename that one with `%s`", user, d.Name, s.command("device", "rename", user, d.ID, "NEWNAME"))
		}
		return asked, nil
	}
	n := defaultDeviceName
	for i := 2; ; i++ {
		if _, ok := taken(n); !ok {
			return n, nil
		}
		n = fmt.Sprintf("%s %d", defaultDeviceName, i)
	}
}

// writePNG writes the QR code to a new file, mode 0600.
func writePNG(qr *qrcode.QRCode, path string) error {
	b, err := qr.PNG(pngSize)
	if err != nil {
		return fmt.Errorf("make the QR code PNG: %w", err)
	}
	if err := writeNew(path, b); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("-png %s exists; enroll never overwrites a file: remove it or choose another", path)
		}
		return fmt.Errorf("-png: %w", err)
	}
	return nil
}

// showEnrollment prints what the user's app needs: the QR code, the key
// and the URI. All three hold the secret.
func (c *cli) showEnrollment(w io.Writer, t otp.TOTP, qr *qrcode.QRCode, uri, user, devName, png string) {
	params := fmt.Sprintf("%s, %d digits, %s", t.Algorithm, t.Digits, t.Period)
	fmt.Fprintf(w, "Enrolling device %q for %s (time-based, %s).\n", devName, user, params)
	fmt.Fprintf(w, "Scan this QR code with the authenticator app:\n\n%s\n", qr.ToSmallString(false))
	fmt.Fprintf(w, "Or type this key into the app (time-based, %s):\n\n    %s\n\n", params, groupKey(b32.EncodeToString(t.Secret)))
	fmt.Fprintf(w, "The otpauth URI, for a token's programming tool:\n    %s\n\n", uri)
	if png != "" {
		fmt.Fprintf(w, "The QR code is also in %s (mode 0600): delete it once scanned.\n", png)
	}
	fmt.Fprintf(w, "The QR code, the key and the URI hold the secret: show them to %s only.\n", user)
	if t.Algorithm != otp.SHA1 || t.Digits != 6 || t.Period != 30*time.Second {
		fmt.Fprintln(w, "Note: many authenticator apps ignore settings other than SHA1, 6 digits and 30s, and then show wrong codes.")
	}
}

// groupKey splits a base32 key into groups of four, as apps accept it.
func groupKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k[i:min(i+4, len(k))])
	}
	return b.String()
}

// confirmCode asks for the code the app shows until one is right, up to
// confirmTries times, and returns its step. No code is ever echoed.
func (c *cli) confirmCode(ctx context.Context, t otp.TOTP, user, again string) (int64, error) {
	in := c.lines()
	for try := 1; try <= confirmTries; try++ {
		fmt.Fprintf(c.stderr, "Enter the %d-digit code your app shows now: ", t.Digits)
		code, err := in.next(ctx)
		c.endPrompt()
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("no code on stdin; nothing stored (to store without a code: -confirm=false)")
		}
		if err != nil {
			return 0, fmt.Errorf("%w; nothing stored", err)
		}
		code, _ = typedCode(code) // "123 456", as apps show it, or "123-456"
		if step, ok := t.Check(code, c.now(), -1, confirmWindow); ok {
			return step, nil
		}
		if try < confirmTries {
			fmt.Fprintf(c.stderr, "That is not the code the app shows now; %s left.\n", count(confirmTries-try, "try", "tries"))
		}
	}
	return 0, fmt.Errorf("%d wrong codes; nothing stored. Check that the phone sets its clock automatically, delete the new entry from the app, and run `%s` again", confirmTries, again)
}

// writeJSON prints v indented, as `user list -json` does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // URIs keep their & readable
	return enc.Encode(v)
}
