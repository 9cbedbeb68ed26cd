package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// errAuditRefused is what auditRefusingStore answers.
var errAuditRefused = errors.New("permission denied on audit/")

// auditRefusingStore refuses every transaction that writes an audit
// event, as an etcd whose RBAC role lets the writer change records but
// not the trail would; other transactions go through.
type auditRefusingStore struct{ cluster.Store }

func (s auditRefusingStore) Commit(ctx context.Context, txn cluster.Txn) (int64, error) {
	for _, op := range txn.Then {
		if strings.HasPrefix(op.Key, "audit/") {
			return 0, errAuditRefused
		}
	}
	return s.Store.Commit(ctx, txn)
}

// snapshot is every key of m with its value.
func snapshot(t *testing.T, m *memstore.Store) map[string]string {
	t.Helper()
	entries, err := m.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Key] = string(e.Value)
	}
	return out
}

// auditEnv is what one run of an audited change shares with its setup:
// the codes and seeds it saw, which no event may show.
type auditEnv struct {
	code    string
	secrets []string
}

func (e *auditEnv) secret(s string) string {
	e.secrets = append(e.secrets, s)
	return s
}

// TestAuditedChanges runs every change Accounts.As audits three ways: an
// audited change commits its event, by the actor, with the detail; a
// store that refuses the event refuses the change with it (nothing
// changes); unaudited Accounts write no event.
func TestAuditedChanges(t *testing.T) {
	lockout := cluster.LockoutPolicy{Attempts: 3, Duration: time.Hour}
	addPush := func(ctx context.Context, a *cluster.Accounts) string {
		d, err := cluster.NewPushDevice("pixel", cluster.PushDevice{Kind: "webhook", Endpoint: "https://hooks.example/x"}, t0)
		if err == nil {
			d, err = a.AddDevice(ctx, "alice", d)
		}
		if err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	tests := []struct {
		name    string
		prepare func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error
		change  func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error
		action  string
		user    string
		events  int // default 1
		detail  []string
	}{
		{name: "enroll", action: cluster.ActionDeviceEnroll, user: "alice", detail: []string{`totp device "phone" (id `},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.AddDevice(ctx, "alice", testDevice("phone"))
				e.secret(string(testDevice("phone").Secret))
				return err
			}},
		{name: "first device", action: cluster.ActionDeviceEnroll, user: "alice", detail: []string{`totp device "tablet" (id `},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.AddFirstDevice(ctx, "alice", testDevice("tablet"))
				return err
			}},
		{name: "rename", action: cluster.ActionDeviceRename, user: "alice", detail: []string{`totp device "phone" (id `, `renamed "tablet"`},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.AddDevice(ctx, "alice", testDevice("phone"))
				return err
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.RenameDevice(ctx, "alice", "phone", "tablet")
			}},
		{name: "remove", action: cluster.ActionDeviceRemove, user: "alice", detail: []string{`totp device "phone" (id `},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.AddDevice(ctx, "alice", testDevice("phone"))
				return err
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.RemoveDevice(ctx, "alice", "phone")
				return err
			}},
		{name: "remove a token's device", action: cluster.ActionDeviceRemove, user: "alice",
			detail: []string{`hotp device "key fob" (id `, "token T0000", "the token is marked lost"},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				if err := a.ImportTokens(ctx, testTokens(1, "T"), t0); err != nil {
					return err
				}
				_, err := a.AssignToken(ctx, "T0000", "alice", "key fob", t0)
				return err
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.RemoveDevice(ctx, "alice", "key fob")
				return err
			}},
		{name: "default push device", action: cluster.ActionDeviceDefault, user: "alice", detail: []string{`push device "pixel" (id `, "gets the automatic pushes"},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				e.code = addPush(ctx, a)
				return nil
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.SetDefaultPush(ctx, "alice", e.code)
			}},
		{name: "admin lock", action: cluster.ActionUserLock, user: "alice", detail: []string{"cause admin, until an admin unlocks"},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.Lock(ctx, "alice", cluster.LockAdmin, t0)
			}},
		{name: "fraud lock", action: cluster.ActionUserLock, user: "alice", detail: []string{"cause fraud, until an admin unlocks"},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.Lock(ctx, "alice", cluster.LockFraud, t0)
			}},
		{name: "lock after failures", action: cluster.ActionUserLock, user: "alice",
			detail: []string{"cause failures (3 in a row), until " + t0.Add(time.Hour).Format(time.RFC3339)},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				for _, code := range []string{"111111", "222222"} {
					acct, err := a.Load(ctx, "alice")
					if err != nil {
						return err
					}
					if _, err := a.Fail(ctx, acct, e.secret(code), lockout, t0); err != nil {
						return err
					}
				}
				return nil
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				acct, err := a.Load(ctx, "alice")
				if err != nil {
					return err
				}
				l, err := a.Fail(ctx, acct, e.secret("333333"), lockout, t0)
				if err == nil && !l.Locked(t0) {
					return errors.New("the third failure did not lock")
				}
				return err
			}},
		{name: "unlock", action: cluster.ActionUserUnlock, user: "alice", detail: []string{"was locked (cause admin, until an admin unlocks, since " + t0.Format(time.RFC3339) + "); 0 failures cleared"},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.Lock(ctx, "alice", cluster.LockAdmin, t0)
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.Unlock(ctx, "alice")
				return err
			}},
		{name: "unlock of an unlocked user", action: cluster.ActionUserUnlock, user: "alice", detail: []string{"was not locked; nothing to clear"},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				if found, err := a.Unlock(ctx, "alice"); err != nil || found {
					return errors.Join(err, errors.New("unlock found a lockout"))
				}
				return nil
			}},
		{name: "bypass issue", action: cluster.ActionBypassIssue, user: "alice", detail: []string{"(short), 5 uses, expires " + t0.Add(24*time.Hour).Format(time.RFC3339)},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				code, _, err := a.IssueBypass(ctx, "alice", cluster.BypassSpec{Profile: "short", MaxUses: 5, TTL: 24 * time.Hour, Digits: 9}, t0)
				e.secret(code)
				return err
			}},
		{name: "bypass use", action: cluster.ActionBypassUse, user: "alice", detail: []string{"(short), use 1 of 5, expires "},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				code, _, err := a.IssueBypass(ctx, "alice", cluster.BypassSpec{Profile: "short", MaxUses: 5, TTL: 24 * time.Hour, Digits: 9}, t0)
				e.code = e.secret(code)
				return err
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				acct, err := a.Load(ctx, "alice")
				if err == nil {
					_, err = a.UseBypass(ctx, acct, e.code, t0)
				}
				return err
			}},
		{name: "bypass revoke all", action: cluster.ActionBypassRevoke, user: "alice", events: 2, detail: []string{"(long), used 0 of unlimited, expires "},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				for range 2 {
					code, _, err := a.IssueBypass(ctx, "alice", cluster.BypassSpec{Profile: "long", TTL: 24 * time.Hour, Digits: 9}, t0)
					e.secret(code)
					if err != nil {
						return err
					}
				}
				return nil
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				gone, err := a.RevokeBypass(ctx, "alice", "")
				if err == nil && len(gone) != 2 {
					return errors.New("not both revoked")
				}
				return err
			}},
		{name: "recovery issue", action: cluster.ActionRecoveryIssue, user: "alice", detail: []string{"passcode ", ", expires " + t0.Add(time.Hour).Format(time.RFC3339)},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				code, _, err := a.IssueRecovery(ctx, "alice", time.Hour, 9, "help desk", t0)
				e.secret(code)
				return err
			}},
		{name: "recovery use", action: cluster.ActionRecoveryUse, user: "alice", detail: []string{"(issued by help desk)"},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				code, _, err := a.IssueRecovery(ctx, "alice", time.Hour, 9, "help desk", t0)
				e.code = e.secret(code)
				return err
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				acct, err := a.Load(ctx, "alice")
				if err == nil {
					_, err = a.UseRecovery(ctx, acct, e.code, t0)
				}
				return err
			}},
		{name: "token import", action: cluster.ActionTokenImport, detail: []string{"3 tokens (3 hotp)"},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.ImportTokens(ctx, testTokens(3, "T"), t0)
			}},
		{name: "token import in batches", action: cluster.ActionTokenImport, detail: []string{"250 tokens (250 hotp)"},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.ImportTokens(ctx, testTokens(250, "T"), t0)
			}},
		{name: "token assign", action: cluster.ActionTokenAssign, user: "alice", detail: []string{`token T0000 (hotp) as device "key fob" (id `},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.ImportTokens(ctx, testTokens(1, "T"), t0)
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.AssignToken(ctx, "T0000", "alice", "key fob", t0)
				return err
			}},
		{name: "token unassign", action: cluster.ActionTokenUnassign, user: "alice", detail: []string{`token T0000 (hotp), device "key fob" (id `, "removed"},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				if err := a.ImportTokens(ctx, testTokens(1, "T"), t0); err != nil {
					return err
				}
				_, err := a.AssignToken(ctx, "T0000", "alice", "key fob", t0)
				return err
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.UnassignToken(ctx, "T0000", t0)
				return err
			}},
		{name: "token lost", action: cluster.ActionTokenLost, detail: []string{"token T0000 (hotp), was unassigned"},
			prepare: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				return a.ImportTokens(ctx, testTokens(1, "T"), t0)
			},
			change: func(ctx context.Context, a *cluster.Accounts, e *auditEnv) error {
				_, err := a.MarkTokenLost(ctx, "T0000", t0)
				return err
			}},
	}
	by := cluster.Actor{Name: cluster.AdminActor("root", "vpn1"), Note: "sudo from bob", Now: func() time.Time { return t0 }}
	// setup returns Accounts over a fresh store (wrapped by wrap) with
	// tt's records prepared.
	keyFile, err := cluster.NewKeyFile(rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.ParseKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	setup := func(t *testing.T, prepare func(context.Context, *cluster.Accounts, *auditEnv) error, wrap func(cluster.Store) cluster.Store) (*cluster.Accounts, *memstore.Store, *auditEnv) {
		t.Helper()
		m := memstore.New()
		a, e := cluster.NewAccounts(wrap(m), keys), &auditEnv{}
		if prepare != nil {
			if err := prepare(context.Background(), a, e); err != nil {
				t.Fatalf("prepare: %v", err)
			}
		}
		return a, m, e
	}
	same := func(s cluster.Store) cluster.Store { return s }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			t.Run("the event commits with the change", func(t *testing.T) {
				a, m, e := setup(t, tt.prepare, same)
				if err := tt.change(ctx, a.As(by), e); err != nil {
					t.Fatalf("change: %v", err)
				}
				events, err := cluster.NewAudit(m, 0).List(ctx, time.Time{}, "")
				if err != nil {
					t.Fatal(err)
				}
				want := max(tt.events, 1)
				if len(events) != want {
					t.Fatalf("got %d events, want %d: %+v", len(events), want, events)
				}
				for _, ev := range events {
					if ev.Action != tt.action || ev.Actor != "twostepctl root@vpn1" || ev.User != tt.user || !ev.Time.Equal(t0) {
						t.Errorf("got %+v, want %s of %q by twostepctl root@vpn1 at %v", ev, tt.action, tt.user, t0)
					}
					for _, d := range append(tt.detail, "; sudo from bob") {
						if !strings.Contains(ev.Detail, d) {
							t.Errorf("detail %q lacks %q", ev.Detail, d)
						}
					}
					b, _ := json.Marshal(ev)
					for _, s := range e.secrets {
						if strings.Contains(string(b), s) {
							t.Errorf("event %s shows the secret %q", b, s)
						}
					}
				}
			})
			t.Run("a refused event refuses the change", func(t *testing.T) {
				a, m, e := setup(t, tt.prepare, func(s cluster.Store) cluster.Store { return auditRefusingStore{s} })
				before := snapshot(t, m)
				err := tt.change(ctx, a.As(by), e)
				if !errors.Is(err, errAuditRefused) {
					t.Fatalf("got %v, want the store's refusal", err)
				}
				if after := snapshot(t, m); !maps.Equal(before, after) {
					t.Errorf("the change was made without its event:\nbefore %v\nafter  %v", before, after)
				}
			})
			t.Run("unaudited accounts write no event", func(t *testing.T) {
				a, m, e := setup(t, tt.prepare, same)
				if err := tt.change(ctx, a, e); err != nil {
					t.Fatalf("change: %v", err)
				}
				if events, _ := cluster.NewAudit(m, 0).List(ctx, time.Time{}, ""); len(events) != 0 {
					t.Errorf("got %+v, want no event", events)
				}
			})
		})
	}
}

// TestFailAuditsOnlyTheLock: failures that do not lock write no event;
// the one that locks writes one, as the node's.
func TestFailAuditsOnlyTheLock(t *testing.T) {
	ctx := context.Background()
	plain, m := testAccounts(t)
	a := plain.As(cluster.Actor{Name: cluster.NodeActor("vpn2")})
	audit := cluster.NewAudit(m, 0)
	p := cluster.LockoutPolicy{Attempts: 3}
	for i, code := range []string{"111111", "222222", "333333", "444444"} {
		acct, err := a.Load(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Fail(ctx, acct, code, p, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
		events, _ := audit.List(ctx, time.Time{}, "")
		want := 0
		if i >= 2 {
			want = 1 // the third locks; the fourth, refused while locked, counts nothing
		}
		if len(events) != want {
			t.Fatalf("after failure %d: got %+v, want %d events", i+1, events, want)
		}
		if want == 1 && (events[0].Actor != "node vpn2" || events[0].Detail != "cause failures (3 in a row), until an admin unlocks") {
			t.Errorf("got %+v", events[0])
		}
	}
}
