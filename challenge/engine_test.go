package challenge

import (
	"context"
	"errors"
	"strings"
	"testing"

	"twostep/directory"
)

type fakeDirectory struct {
	res   directory.Result
	err   error
	calls int
}

func (f *fakeDirectory) Authenticate(_ context.Context, _, _ string) (directory.Result, error) {
	f.calls++
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
		{"disabled", "alice", "pw", directory.Result{Status: directory.Disabled}, nil, Decision{Outcome: Reject, Reason: ReasonDisabled, Message: "Your account is disabled. Contact the help desk."}, false, true},
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
			got, err := NewEngine(dir).Authenticate(context.Background(), &Request{User: tc.user, Password: tc.pw})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tc.wantErr)
			}
			if err != nil && got.Outcome == Accept {
				t.Fatal("an error came with an Accept")
			}
			if got.Outcome != tc.want.Outcome || got.Reason != tc.want.Reason || got.Message != tc.want.Message {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if (dir.calls > 0) != tc.wantLookup {
				t.Errorf("directory calls: got %d, want lookup %v", dir.calls, tc.wantLookup)
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
