package challenge

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"twostep/directory"
)

type fakeDirectory struct {
	res   directory.Result
	err   error
	calls atomic.Int32
}

func (f *fakeDirectory) Authenticate(_ context.Context, _, _ string) (directory.Result, error) {
	f.calls.Add(1)
	return f.res, f.err
}

func TestEngine(t *testing.T) {
	cases := []struct {
		name       string
		user, pw   string
		res        directory.Result
		dirErr     error
		want       Decision
		wantErr    bool
		wantLookup bool
	}{
		{"accept", "alice", "pw", directory.Result{Status: directory.OK}, nil, Decision{Outcome: Accept, Reason: ReasonOK}, false, true},
		{"bad password", "alice", "pw", directory.Result{Status: directory.BadPassword}, nil, Decision{Outcome: Reject, Reason: ReasonBadPassword}, false, true},
		{"unknown user", "nobody", "pw", directory.Result{Status: directory.UnknownUser}, nil, Decision{Outcome: Reject, Reason: ReasonUnknownUser}, false, true},
		{"disabled", "alice", "pw", directory.Result{Status: directory.Disabled}, nil, Decision{Outcome: Reject, Reason: ReasonDisabled, Message: msgDisabled}, false, true},
		{"locked", "alice", "pw", directory.Result{Status: directory.Locked}, nil, Decision{Outcome: Reject, Reason: ReasonLocked, Message: msgLocked}, false, true},
		{"password expired", "alice", "pw", directory.Result{Status: directory.PasswordExpired}, nil, Decision{Outcome: Reject, Reason: ReasonPasswordExpired, Message: msgPasswordExpired}, false, true},
		{"account expired", "alice", "pw", directory.Result{Status: directory.AccountExpired}, nil, Decision{Outcome: Reject, Reason: ReasonAccountExpired, Message: msgAccountExpired}, false, true},
		{"logon denied", "alice", "pw", directory.Result{Status: directory.LogonDenied}, nil, Decision{Outcome: Reject, Reason: ReasonLogonDenied, Message: msgLogonDenied}, false, true},
		{"zero result is a reject", "alice", "pw", directory.Result{}, nil, Decision{Outcome: Reject, Reason: ReasonBadPassword}, false, true},
		{"directory error is an error, never an accept", "alice", "pw", directory.Result{Status: directory.OK}, errors.New("ldap down"), Decision{}, true, true},
		{"empty password never reaches the directory", "alice", "", directory.Result{Status: directory.OK}, nil, Decision{Outcome: Reject, Reason: ReasonEmptyPassword}, false, false},
		{"empty user", "", "pw", directory.Result{Status: directory.OK}, nil, Decision{Outcome: Reject, Reason: ReasonBadUsername}, false, false},
		{"user too long", strings.Repeat("a", 254), "pw", directory.Result{Status: directory.OK}, nil, Decision{Outcome: Reject, Reason: ReasonBadUsername}, false, false},
		{"user not UTF-8", "al\xffice", "pw", directory.Result{Status: directory.OK}, nil, Decision{Outcome: Reject, Reason: ReasonBadUsername}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := &fakeDirectory{res: tc.res, err: tc.dirErr}
			got, err := authenticate(context.Background(), NewEngine(dir, Policy{}), &Request{User: tc.user, Password: tc.pw})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tc.wantErr)
			}
			if err != nil && got.Outcome == Accept {
				t.Fatal("an error came with an Accept")
			}
			if got.Outcome != tc.want.Outcome || got.Reason != tc.want.Reason || got.Message != tc.want.Message {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if (dir.calls.Load() > 0) != tc.wantLookup {
				t.Errorf("directory calls: got %d, want lookup %v", dir.calls.Load(), tc.wantLookup)
			}
		})
	}
}

func TestOutcomeZeroIsReject(t *testing.T) {
	var d Decision
	if d.Outcome != Reject || d.Outcome.String() != "reject" {
		t.Errorf("got %v, want reject", d.Outcome)
	}
}

func TestPolicy(t *testing.T) {
	admins := []Attribute{{Name: "Class", Value: "admins"}, {Name: "Fortinet-Group-Name", Value: "fw-admins"}}
	policy := Policy{
		Default: Require,
		Groups: []GroupRule{
			{Group: "banned", Action: Deny},
			{Group: "Break-Glass", Action: Exempt},
			{Group: "vpn-admins", Action: Require, Reply: admins},
			{Group: "vpn-users", Action: Require, Reply: []Attribute{{Name: "Class", Value: "users"}}},
		},
	}
	cases := []struct {
		name   string
		groups []string
		policy Policy
		want   Decision
	}{
		{"no group: default", nil, policy, Decision{Outcome: Accept, Reason: ReasonOK}},
		{"deny wins by order", []string{"vpn-admins", "banned"}, policy, Decision{Outcome: Reject, Reason: ReasonDeniedByPolicy, Message: msgDenied}},
		{"exempt, group compared without case", []string{"break-glass"}, policy, Decision{Outcome: Accept, Reason: ReasonExempt}},
		{"first matching rule's attributes only", []string{"vpn-users", "vpn-admins"}, policy, Decision{Outcome: Accept, Reason: ReasonOK, Attributes: admins}},
		{"default deny", []string{"other"}, Policy{Default: Deny}, Decision{Outcome: Reject, Reason: ReasonDeniedByPolicy, Message: msgDenied}},
		{"default exempt", nil, Policy{Default: Exempt}, Decision{Outcome: Accept, Reason: ReasonExempt}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := &fakeDirectory{res: directory.Result{Status: directory.OK, User: directory.User{Name: "alice", Groups: tc.groups}}}
			got, err := authenticate(context.Background(), NewEngine(dir, tc.policy), &Request{User: "alice", Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Outcome != tc.want.Outcome || got.Reason != tc.want.Reason || got.Message != tc.want.Message || !slices.Equal(got.Attributes, tc.want.Attributes) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	for _, a := range []Action{Require, Exempt, Deny} {
		got, ok := ParseAction(a.String())
		if !ok || got != a {
			t.Errorf("ParseAction(%q): got %v %v, want %v", a.String(), got, ok, a)
		}
	}
	if _, ok := ParseAction("allow"); ok {
		t.Error(`ParseAction("allow") accepted`)
	}
}

// TestDecisionNamesCanonicalUser: a Decision carries the directory's
// canonical name for the user whatever was typed, in the first round and
// in the answer to a challenge, so that the log names one user.
func TestDecisionNamesCanonicalUser(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), staffPolicy, nil)
	dev := w.enroll("phone")
	ask := func(typed, password string, state []byte, res directory.Result) Decision {
		t.Helper()
		w.dir.res = res
		d, err := authenticate(context.Background(), w.engine, &Request{
			User: typed, Password: password, State: state, Client: "vpn", Source: nas, Login: ClientLogin{Mode: ModeChallenge},
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ok := directory.Result{Status: directory.OK, User: directory.User{Name: "alice", Groups: []string{"staff"}}}
	first := ask("ALICE ", "pw", nil, ok)
	cases := []struct {
		name string
		got  Decision
		want string
	}{
		{"challenge after the password", first, "alice"},
		{"answer to the challenge", ask("ALICE ", w.code(dev, 0), first.State, ok), "alice"},
		{"wrong password", ask("Ａｌｉｃｅ", "nope", nil, directory.Result{Status: directory.BadPassword, User: directory.User{Name: "alice"}}), "alice"},
		{"unknown user", ask("nobody", "pw", nil, directory.Result{Status: directory.UnknownUser}), ""},
		{"unknown State", ask("ALICE ", "123456", make([]byte, 16), ok), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.User != tc.want {
				t.Errorf("got User %q (%s/%s), want %q", tc.got.User, tc.got.Outcome, tc.got.Reason, tc.want)
			}
		})
	}
}
