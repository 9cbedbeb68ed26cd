package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
)

// ctlAt runs twostepctl with its clock at now.
func ctlAt(t *testing.T, now time.Time, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := newCLI(strings.NewReader(stdin), &out, &errOut)
	c.now = func() time.Time { return now }
	err = c.exec(context.Background(), args)
	return out.String(), errOut.String(), err
}

// helpDesk runs the help-desk commands against one test cluster and
// remembers every code they print, so that a test can check that no other
// output and no error shows one.
type helpDesk struct {
	*testCluster
	codes []string
}

func newHelpDesk(t *testing.T) *helpDesk {
	t.Helper()
	return &helpDesk{testCluster: newTestCluster(t)}
}

// ctl runs twostepctl with the cluster's configuration; every error is
// checked for codes.
func (h *helpDesk) ctl(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	out, errOut, err := ctl(t, stdin, append([]string{"-config", h.config}, args...)...)
	if err != nil {
		h.noCode(t, "the error", err.Error())
	}
	h.noCode(t, "stderr", errOut)
	return out, errOut, err
}

// must runs twostepctl and fails the test on an error.
func (h *helpDesk) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := h.ctl(t, "", args...)
	if err != nil {
		t.Fatalf("twostepctl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fail runs twostepctl and wants an error containing want.
func (h *helpDesk) fail(t *testing.T, want string, args ...string) string {
	t.Helper()
	out, _, err := h.ctl(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("twostepctl %s: got %v, want an error with %q", strings.Join(args, " "), err, want)
	}
	return out
}

// noCode fails when s shows one of the codes printed so far, grouped or
// not.
func (h *helpDesk) noCode(t *testing.T, what, s string) {
	t.Helper()
	for _, c := range h.codes {
		if strings.Contains(s, c) || strings.Contains(s, groupCode(c)) {
			t.Errorf("%s shows the code %s:\n%s", what, c, s)
		}
	}
}

// issueJSON issues a bypass code with -json and returns what it printed.
func (h *helpDesk) issueJSON(t *testing.T, args ...string) bypassIssued {
	t.Helper()
	var got bypassIssued
	out := h.must(t, append([]string{"bypass", "issue", "-json"}, args...)...)
	if err := decodeJSON(out, &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	h.codes = append(h.codes, got.Code)
	return got
}

// printedCode is the code a text issue shows on a line of its own.
var printedCode = regexp.MustCompile(`(?m)^    (\d{3} \d{3} \d{3})$`)

// issueText issues a code with the text output and returns the output and
// the code read from it as an admin would.
func (h *helpDesk) issueText(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out := h.must(t, args...)
	m := printedCode.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no code in groups of three:\n%s", out)
	}
	if strings.Count(out, m[1]) != 1 {
		t.Errorf("the grouped code shows more than once:\n%s", out)
	}
	code := strings.ReplaceAll(m[1], " ", "")
	h.codes = append(h.codes, code)
	return out, code
}

// bypassList is `bypass list -json`.
func (h *helpDesk) bypassList(t *testing.T, user string) []bypassJSON {
	t.Helper()
	var list []bypassJSON
	if err := decodeJSON(h.must(t, "bypass", "list", "-json", user), &list); err != nil {
		t.Fatal(err)
	}
	return list
}

// events is `audit -json` with args.
func (h *helpDesk) events(t *testing.T, args ...string) []auditJSON {
	t.Helper()
	out := h.must(t, append([]string{"audit", "-json"}, args...)...)
	h.noCode(t, "audit -json", out)
	var events []auditJSON
	if err := decodeJSON(out, &events); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return events
}

func contains(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("got:\n%s\nwant it to contain %q", got, w)
		}
	}
}

func TestBypassIssue(t *testing.T) {
	h := newHelpDesk(t)
	ctx := context.Background()

	start := time.Now()
	short := h.issueJSON(t, "alice")
	b := short.Bypass
	if short.User != "alice" || len(short.Code) != 9 || b.ID == "" || b.Profile != "short" || b.MaxUses != 5 || b.Uses != 0 ||
		b.State != "usable" || !strings.HasPrefix(b.IssuedBy, "twostepctl ") || !strings.Contains(b.IssuedBy, "@") {
		t.Errorf("got %+v", short)
	}
	if d := b.Expires.Sub(start); d < 24*time.Hour-time.Minute || d > 24*time.Hour+time.Minute {
		t.Errorf("expires in %v, want 24h", d)
	}
	contains(t, h.must(t, "bypass", "list", "alice"),
		"ID", "PROFILE", "USES", "EXPIRES", "LAST USED", "STATE", "ISSUED BY",
		b.ID, "short", "0 of 5", "never", "usable", "twostepctl ")

	// The code logs in five times, as twostepd takes it.
	for i := range 5 {
		acct := h.load(t, "alice")
		got, err := h.accounts.UseBypass(ctx, acct, short.Code, time.Now())
		if err != nil || got.Used != i+1 {
			t.Fatalf("use %d: got %+v, %v", i+1, got, err)
		}
	}
	if _, err := h.accounts.UseBypass(ctx, h.load(t, "alice"), short.Code, time.Now()); !errors.Is(err, cluster.ErrCodeUsedUp) {
		t.Errorf("use 6: got %v, want ErrCodeUsedUp", err)
	}
	list := h.must(t, "bypass", "list", "alice")
	contains(t, list, "5 of 5", "used up")
	if strings.Contains(list, "never") {
		t.Errorf("got:\n%s\nwant the last use shown", list)
	}
	if l := h.bypassList(t, "alice"); len(l) != 1 || l[0].Uses != 5 || l[0].State != "used up" || l[0].LastUsed.IsZero() {
		t.Errorf("got %+v, want used up", l)
	}

	t.Run("text", func(t *testing.T) {
		out, code := h.issueText(t, "bypass", "issue", "bob")
		contains(t, out, "bypass code for bob (id ", "profile short", "It allows 5 logins until "+timeText(time.Now().Add(24 * time.Hour))[:11],
			"bob appends it to the password, digits only: password,"+code+", or types it when asked for a passcode",
			"shown only this once", "twostepctl -config "+h.config+" bypass revoke bob ")
		if _, err := h.accounts.UseBypass(ctx, h.load(t, "bob"), code, time.Now()); err != nil {
			t.Errorf("the printed code: %v", err)
		}
	})
	t.Run("-uses and -ttl", func(t *testing.T) {
		out, _ := h.issueText(t, "bypass", "issue", "-uses", "2", "-ttl", "2h", "bob")
		contains(t, out, "profile custom", "It allows 2 logins until "+timeText(time.Now().Add(2 * time.Hour))[:11])
		unlimited := h.issueJSON(t, "-uses", "0", "-ttl", "90m", "bob")
		if u := unlimited.Bypass; u.Profile != "custom" || u.MaxUses != 0 || time.Until(u.Expires) > 90*time.Minute {
			t.Errorf("got %+v", u)
		}
		if _, err := h.accounts.UseBypass(ctx, h.load(t, "bob"), unlimited.Code, time.Now()); err != nil {
			t.Fatal(err)
		}
		contains(t, h.must(t, "bypass", "list", "bob"), "custom", "1 of unlimited")
	})
	t.Run("-profile long", func(t *testing.T) {
		out, _ := h.issueText(t, "bypass", "issue", "-profile", "long", "bob")
		contains(t, out, "profile long", "It allows any number of logins until "+timeText(time.Now().Add(7 * 24 * time.Hour))[:11])
	})
	t.Run("a locked user", func(t *testing.T) {
		h.must(t, "lock", "bob")
		_, errOut, err := h.ctl(t, "", "bypass", "issue", "-json", "bob")
		if err != nil {
			t.Fatal(err)
		}
		contains(t, errOut, "note: bob is locked", "the code logs in only after `twostepctl -config "+h.config+" unlock bob`")
	})
}

func TestBypassIssueErrors(t *testing.T) {
	h := newHelpDesk(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"-profile with -uses", []string{"-profile", "short", "-uses", "3", "-ttl", "1h", "alice"}, "give -profile or -uses with -ttl, not both"},
		{"-profile with -ttl", []string{"-profile", "long", "-ttl", "1h", "alice"}, "not both"},
		{"-uses without -ttl", []string{"-uses", "3", "alice"}, "-uses and -ttl go together"},
		{"-ttl without -uses", []string{"-ttl", "1h", "alice"}, "-uses and -ttl go together"},
		{"negative uses", []string{"-uses", "-1", "-ttl", "1h", "alice"}, "-uses -1: want 0 (any number) to 1000"},
		{"short ttl", []string{"-uses", "1", "-ttl", "30s", "alice"}, "-ttl 30s: want 1m to 2160h"},
		{"unknown profile", []string{"-profile", "medium", "alice"}, `unknown profile "medium"; the configuration has long, short`},
		{"unknown user", []string{"mallory"}, `user "mallory" does not exist in the users file`},
		{"no user", nil, "want USER, got 0 arguments; see `twostepctl bypass issue -h`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.fail(t, tt.want, append([]string{"bypass", "issue"}, tt.args...)...)
			for _, u := range []string{"alice", "mallory"} {
				if n := len(h.load(t, u).Bypass); n != 0 {
					t.Errorf("%s: got %d codes, want none", u, n)
				}
			}
		})
	}
	t.Run("commands", func(t *testing.T) {
		h.fail(t, "no bypass command given", "bypass")
		h.fail(t, `unknown bypass command "show"`, "bypass", "show", "alice")
		h.fail(t, "no recovery command given", "recovery")
		h.fail(t, `unknown recovery command "use"`, "recovery", "use", "alice")
	})
}

func TestBypassRevoke(t *testing.T) {
	h := newHelpDesk(t)
	ctx := context.Background()
	a := h.issueJSON(t, "alice")
	b := h.issueJSON(t, "-profile", "long", "alice")
	c := h.issueJSON(t, "-uses", "1", "-ttl", "1h", "alice")
	ids := func() []string {
		var ids []string
		for _, x := range h.bypassList(t, "alice") {
			ids = append(ids, x.ID)
		}
		slices.Sort(ids)
		return ids
	}

	out := h.must(t, "bypass", "revoke", "alice", a.Bypass.ID)
	contains(t, out, "revoked bypass code "+a.Bypass.ID+" (profile short, used 0 of 5, usable) of alice", "it no longer logs in on any node")
	want := []string{b.Bypass.ID, c.Bypass.ID}
	slices.Sort(want)
	if got := ids(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := h.accounts.UseBypass(ctx, h.load(t, "alice"), a.Code, time.Now()); !errors.Is(err, cluster.ErrNoCode) {
		t.Errorf("the revoked code: got %v, want ErrNoCode", err)
	}
	h.fail(t, `alice has no bypass code "`+a.Bypass.ID+`"; list them with `+"`twostepctl -config "+h.config+" bypass list alice`", "bypass", "revoke", "alice", a.Bypass.ID)
	h.fail(t, "want USER ID (or -all USER), got 1 arguments", "bypass", "revoke", "alice")
	h.fail(t, "with -all, want USER, got 2 arguments", "bypass", "revoke", "-all", "alice", b.Bypass.ID)

	out = h.must(t, "bypass", "revoke", "-all", "alice")
	contains(t, out, "revoked bypass code "+b.Bypass.ID+" (profile long, used 0 of unlimited", "revoked bypass code "+c.Bypass.ID, "they no longer log in")
	if got := ids(); len(got) != 0 {
		t.Errorf("got %q, want none", got)
	}
	contains(t, h.must(t, "bypass", "revoke", "-all", "alice"), "alice has no bypass code; nothing changed")
	contains(t, h.must(t, "bypass", "list", "alice"), "alice has no bypass code; issue one with: twostepctl -config "+h.config+" bypass issue alice")
	if out := h.must(t, "bypass", "list", "-json", "alice"); strings.TrimSpace(out) != "[]" {
		t.Errorf("-json: got %q, want []", out)
	}
	var revoked []string
	for _, e := range h.events(t, "-user", "alice") {
		if e.Action == "bypass.revoke" {
			revoked = append(revoked, e.Detail)
		}
	}
	if len(revoked) != 3 || !strings.Contains(revoked[0], a.Bypass.ID) {
		t.Errorf("got revoke events %q, want one per code", revoked)
	}

	t.Run("a user gone from the directory", func(t *testing.T) {
		_, errOut, err := h.ctl(t, "", "bypass", "revoke", "-all", "carol")
		if err != nil {
			t.Fatal(err)
		}
		contains(t, errOut, `note: "carol" is not in the users file`)
		_, errOut, err = h.ctl(t, "", "bypass", "list", "carol")
		if err != nil {
			t.Fatal(err)
		}
		contains(t, errOut, `note: "carol" is not in the users file`)
	})
}

func TestRecoveryEnroll(t *testing.T) {
	h := newHelpDesk(t)
	enroll := func(code string, args ...string) (string, error) {
		t.Helper()
		out, _, err := h.ctl(t, "", append([]string{"enroll", "-confirm=false", "-recovery", code}, args...)...)
		return out, err
	}
	devices := func(user string) int {
		t.Helper()
		return len(h.load(t, user).Devices)
	}

	start := time.Now()
	out, code := h.issueText(t, "recovery", "issue", "alice")
	contains(t, out, "recovery passcode for alice (id ", "single use, until "+timeText(start.Add(time.Hour))[:11],
		"An admin can also enroll a device with it: twostepctl -config "+h.config+" enroll -recovery CODE alice\n",
		"It never logs in by itself", "shown only this once")

	wrong := "000000000"
	if code == wrong {
		wrong = "000000001"
	}
	_, err := enroll(wrong, "alice")
	if err == nil || !strings.Contains(err.Error(), "that recovery passcode is wrong or was already used; nothing stored") || strings.Contains(err.Error(), wrong) {
		t.Errorf("a wrong passcode: got %v", err)
	}
	h.fail(t, "-recovery: want the recovery passcode's digits", "enroll", "-recovery", "12a 456", "alice")
	h.fail(t, `user "mallory" does not exist`, "enroll", "-recovery", groupCode(code), "mallory")
	h.fail(t, "that recovery passcode is wrong", "enroll", "-confirm=false", "-recovery", groupCode(code), "bob")
	if n := devices("alice"); n != 0 {
		t.Fatalf("got %d devices, want none", n)
	}

	// Grouped as printed, it works once.
	out, err = enroll(groupCode(code), "alice")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	contains(t, out, `enrolled device "authenticator"`, "The recovery passcode is spent")
	_, err = enroll(code, "alice")
	if err == nil || !strings.Contains(err.Error(), "wrong or was already used") {
		t.Errorf("the same passcode again: got %v", err)
	}
	if n := devices("alice"); n != 1 {
		t.Errorf("got %d devices, want 1", n)
	}

	t.Run("a new passcode replaces the earlier one", func(t *testing.T) {
		first := h.issueJSONRecovery(t, "bob")
		second := h.issueJSONRecovery(t, "-ttl", "2h", "bob")
		if d := time.Until(second.Recovery.Expires); d < 119*time.Minute || d > 2*time.Hour {
			t.Errorf("expires in %v, want 2h", d)
		}
		if _, err := enroll(first.Code, "bob"); err == nil || !strings.Contains(err.Error(), "wrong or was already used") {
			t.Errorf("the first passcode: got %v", err)
		}
		if _, err := enroll(second.Code, "bob"); err != nil {
			t.Errorf("the second passcode: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		r := h.issueJSONRecovery(t, "-ttl", "1m", "bob")
		before := devices("bob")
		_, _, err := ctlAt(t, time.Now().Add(2*time.Minute), "", "-config", h.config, "enroll", "-confirm=false", "-recovery", r.Code, "bob")
		want := "that recovery passcode expired at " + timeText(r.Recovery.Expires) + "; nothing stored: issue a new one with `twostepctl -config " + h.config + " recovery issue bob`"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
		if err != nil {
			h.noCode(t, "the error", err.Error())
		}
		if n := devices("bob"); n != before {
			t.Errorf("got %d devices, want %d", n, before)
		}
	})
	t.Run("spent by an enrollment that then fails", func(t *testing.T) {
		r := h.issueJSONRecovery(t, "bob")
		// No confirmation code on stdin.
		_, _, err := h.ctl(t, "", "enroll", "-recovery", r.Code, "bob")
		if err == nil || !strings.Contains(err.Error(), "no code on stdin; nothing stored") || !strings.Contains(err.Error(), "the recovery passcode is spent: issue a new one") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		h.fail(t, `user "mallory" does not exist in the users file`, "recovery", "issue", "mallory")
		h.fail(t, "-ttl 30s: want 1m to 168h", "recovery", "issue", "-ttl", "30s", "alice")
		h.fail(t, "want USER, got 0 arguments", "recovery", "issue")
	})
}

// issueJSONRecovery issues a recovery passcode with -json.
func (h *helpDesk) issueJSONRecovery(t *testing.T, args ...string) recoveryIssued {
	t.Helper()
	var got recoveryIssued
	out := h.must(t, append([]string{"recovery", "issue", "-json"}, args...)...)
	if err := decodeJSON(out, &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(got.Code) != 9 || got.Recovery.ID == "" || !strings.HasPrefix(got.Recovery.IssuedBy, "twostepctl ") {
		t.Errorf("got %+v", got)
	}
	h.codes = append(h.codes, got.Code)
	return got
}

func TestAudit(t *testing.T) {
	h := newHelpDesk(t)
	contains(t, h.must(t, "audit"), "no audit events since ")
	start := time.Now()
	b := h.issueJSON(t, "alice")
	h.must(t, "bypass", "revoke", "alice", b.Bypass.ID)
	r := h.issueJSONRecovery(t, "alice")
	h.must(t, "enroll", "-confirm=false", "-recovery", r.Code, "alice")
	h.issueJSON(t, "-profile", "long", "bob")

	events := h.events(t)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action+" "+e.User)
		if !strings.HasPrefix(e.Actor, "twostepctl ") || e.Time.Before(start.Add(-time.Second)) {
			t.Errorf("got %+v", e)
		}
	}
	want := []string{"bypass.issue alice", "bypass.revoke alice", "recovery.issue alice", "recovery.use alice", "device.enroll alice", "bypass.issue bob"}
	if !slices.Equal(actions, want) {
		t.Fatalf("got %q, want %q", actions, want)
	}
	contains(t, events[0].Detail, "code "+b.Bypass.ID+" (short), 5 uses, expires ")
	contains(t, events[2].Detail, "passcode "+r.Recovery.ID)
	contains(t, events[3].Detail, "passcode "+r.Recovery.ID, "to enroll a device")

	out := h.must(t, "audit")
	h.noCode(t, "audit", out)
	contains(t, out, "TIME", "ACTION", "USER", "ACTOR", "DETAIL", "bypass.issue", "recovery.use", "twostepctl ")
	if i, j := strings.Index(out, "bypass.revoke"), strings.Index(out, "recovery.issue"); i < 0 || j < i {
		t.Errorf("got:\n%s\nwant the events oldest first", out)
	}

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"one user", []string{"-user", "BOB"}, 1},
		{"a duration", []string{"-since", "1h"}, 6},
		{"days", []string{"-since", "2d"}, 6},
		{"a time", []string{"-since", start.Add(-time.Minute).UTC().Format("2006-01-02 15:04")}, 6},
		{"an action", []string{"-action", "bypass.issue"}, 2},
		{"an action prefix", []string{"-action", "recovery."}, 2},
		{"an action and a user", []string{"-action", "bypass.", "-user", "alice"}, 2},
		{"an action without events", []string{"-action", "token."}, 0},
		{"a later time", []string{"-since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 0},
		{"a user without events", []string{"-user", "mallory"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.events(t, tt.args...); len(got) != tt.want {
				t.Errorf("got %d events, want %d: %+v", len(got), tt.want, got)
			}
		})
	}
	t.Run("the default is the last 7 days", func(t *testing.T) {
		out, _, err := ctlAt(t, time.Now().Add(8*24*time.Hour), "", "-config", h.config, "audit")
		if err != nil {
			t.Fatal(err)
		}
		contains(t, out, "no audit events since ")
		contains(t, h.must(t, "audit", "-user", "mallory"), "no audit events of mallory since ")
	})
	t.Run("errors", func(t *testing.T) {
		h.fail(t, `-since "yesterday": want a duration (36h, 7d) or a time`, "audit", "-since", "yesterday")
		h.fail(t, "takes no arguments", "audit", "alice")
	})
}

func TestHelpDeskHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"The help desk", "bypass issue", "bypass revoke", "recovery issue", "audit "}},
		{[]string{"bypass", "-h"}, []string{"Usage: twostepctl bypass COMMAND", "issue", "list", "revoke"}},
		{[]string{"bypass", "issue", "-h"}, []string{"Usage: twostepctl bypass issue", "Examples:", "-profile profile", "-uses number", "-ttl duration", "holds the code"}},
		{[]string{"help", "bypass", "list"}, []string{"Usage: twostepctl bypass list", "never shown"}},
		{[]string{"bypass", "revoke", "-h"}, []string{"Usage: twostepctl bypass revoke", "-all"}},
		{[]string{"recovery", "-h"}, []string{"Usage: twostepctl recovery COMMAND", "issue"}},
		{[]string{"recovery", "issue", "-h"}, []string{"Usage: twostepctl recovery issue", "-ttl duration", "enroll -recovery CODE USER"}},
		{[]string{"enroll", "-h"}, []string{"-recovery code", "lost every device"}},
		{[]string{"audit", "-h"}, []string{"Usage: twostepctl audit", "-since duration", "-user user", "never holds a code"}},
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
}

func TestCodeText(t *testing.T) {
	tests := []struct{ code, grouped string }{
		{"123456789", "123 456 789"},
		{"12345678", "123 456 78"},
		{"1234567890", "123 456 7890"},
		{"123456789012", "123 456 789 012"},
	}
	for _, tt := range tests {
		if got := groupCode(tt.code); got != tt.grouped {
			t.Errorf("groupCode(%q): got %q, want %q", tt.code, got, tt.grouped)
		}
		if got, ok := typedCode(tt.grouped); !ok || got != tt.code {
			t.Errorf("typedCode(%q): got %q, %v, want %q", tt.grouped, got, ok, tt.code)
		}
	}
	for _, bad := range []string{"", " ", "12a", "１２３"} {
		if got, ok := typedCode(bad); ok {
			t.Errorf("typedCode(%q): got %q, want refused", bad, got)
		}
	}
}
