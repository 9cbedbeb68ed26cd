package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"layeh.com/radius"

	"twostep/cluster"
	"twostep/directory/ldaptest"
)

// ctlProc is a twostepctl that runs while the test goes on (trace).
type ctlProc struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	exited         chan struct{}
	err            error
}

// startTwostepctl starts twostepctl with node d's configuration and
// args, and stops it by pid when the test ends.
func (d *daemonProc) startTwostepctl(t *testing.T, args ...string) *ctlProc {
	t.Helper()
	p := &ctlProc{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(twostepctlBin(t), append([]string{"-config", filepath.Join(d.dir, "twostep.yaml")}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitOutput waits until p's stdout holds s.
func (p *ctlProc) waitOutput(t *testing.T, s string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("twostepctl to print %q", s), func() bool { return strings.Contains(p.stdout.String(), s) })
}

// ldapNodes is the extra configuration of nodes whose directory is
// slapd, with a group policy.
func ldapNodes(slapd *ldaptest.Server) func(int) string {
	return func(int) string {
		return fmt.Sprintf(`directory:
  backend: ldap
  ldap:
    urls: [%q]
    bind_dn: %q
    bind_password: %q
    base_dn: %q
    op_timeout: 2s
policy:
  default: require
  groups:
    - group: unix-admins
      reply: [{name: Class, value: admins}]
`, slapd.URL(), slapd.ServiceDN, slapd.ServicePassword, slapd.BaseDN)
	}
}

// traceKeys returns the keys of user's trace records in etcd.
func (n *twoNodes) traceKeys(t *testing.T, user string) []string {
	t.Helper()
	entries, err := n.store.List(context.Background(), cluster.TraceEventsPrefix(user))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	return keys
}

// TestClusterTrace runs `twostepctl trace -for 1m alice` against two
// nodes on slapd: alice's login, asked on node A and answered on node B,
// shows both nodes' steps under one id (the directory's search, groups
// and bind, the policy rule, the store's reads and writes, the answers),
// never her password or code; bob's login shows nowhere. Once the
// command exits the nodes stop: alice's next login writes nothing.
func TestClusterTrace(t *testing.T) {
	slapd := ldaptest.Start(t)
	n := startNodesExtra(t, nil, ldapNodes(slapd), "secure", "secure")
	dev := n.enrollUser(t, "alice", "phone")
	password := ldaptest.Password("alice")

	ctl := n.a.startTwostepctl(t, "trace", "-for", "1m", "alice")
	ctl.waitOutput(t, "Waiting for alice's next login on any of 2 node(s)")
	for _, d := range n.all {
		waitFor(t, "the node to trace alice", func() bool { return d.metric(t, "twostep_trace_active_users") == "1" })
	}

	first := login(t, n.a.radius, "alice", password, nil)
	if first.code != radius.CodeAccessChallenge {
		t.Fatalf("alice on node A: %v %q, want Access-Challenge", first.code, first.message)
	}
	code := dev.Code(dev.Step(time.Now()))
	if got := login(t, n.b.radius, "alice", code, first.state); got.code != radius.CodeAccessAccept {
		t.Fatalf("alice's code on node B: %v %q, want Access-Accept", got.code, got.message)
	}
	if got := login(t, n.a.radius, "bob", ldaptest.Password("bob"), nil); got.code != radius.CodeAccessReject {
		t.Fatalf("bob, without a device: %v, want Access-Reject", got.code)
	}
	waitFor(t, "twostepctl to print the Access-Accept", func() bool { return strings.Contains(squash(ctl.stdout.String()), "reply Access-Accept") })

	if err := ctl.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctl.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("twostepctl trace ignored Ctrl-C")
	}
	out := squash(ctl.stdout.String())
	if ctl.err != nil {
		t.Fatalf("twostepctl trace: %v\n%s\n%s", ctl.err, out, ctl.stderr.String())
	}

	ids := n.a.requestIDs(t, "alice")
	if len(ids) != 1 || !slicesEqual(n.b.requestIDs(t, "alice"), ids) {
		t.Fatalf("log lines' ids: A %v, B %v; want one login", ids, n.b.requestIDs(t, "alice"))
	}
	if got := strings.Count(out, "(Ref "); got != 1 || !strings.Contains(out, "login "+ids[0]+" ("+cluster.LoginReference(ids[0])+"), alice") {
		t.Errorf("want one block, of login %s:\n%s", ids[0], out)
	}
	for _, want := range []string{
		"node-1 +", "node-2 +",
		"request Access-Request id ",
		`User-Name = "alice"`,
		"User-Password = <masked, 16 bytes>",
		"Message-Authenticator = <masked, 16 bytes>",
		"directory search ok ", "uid=alice,ou=people," + slapd.BaseDN,
		"directory groups ok ", "unix-admins",
		"directory bind ok ",
		"policy require policy.groups[0]: group unix-admins; reply: Class",
		"account loaded 1 device(s): phone (totp",
		"store list ok ", "users/alice/",
		"store commit ok ", "put challenges/",
		"reply Access-Challenge (passcode_requested",
		"State = <masked, ",
		"round found login " + ids[0] + " of alice",
		"passcode ok phone",
		"put users/alice/used/",
		"reply Access-Accept (ok, factor totp, device phone)",
		"Class = 0x61646d696e73",
		"Trace of alice ended (interrupted): 2 requests of 1 login shown; the nodes stop tracing now.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	for _, secret := range []string{password, "bob"} {
		if strings.Contains(out, secret) {
			t.Errorf("the output shows %q:\n%s", secret, out)
		}
	}
	// Six digits may be part of a hash or an id: the code is looked for
	// as a word of its own.
	for _, word := range strings.FieldsFunc(out, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if word == code {
			t.Errorf("the output shows the code %s:\n%s", code, out)
		}
	}

	// The command took its request back: the nodes stop, and write no
	// more.
	if _, err := n.store.Get(context.Background(), cluster.TraceRequestKey("alice")); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("trace/requests/alice after the command exited: %v, want not found", err)
	}
	for _, d := range n.all {
		waitFor(t, "the node to stop tracing", func() bool { return d.metric(t, "twostep_trace_active_users") == "0" })
	}
	written := n.traceKeys(t, "alice")
	if len(written) != 2 {
		t.Errorf("alice's trace records %v, want one per request", written)
	}
	if again := login(t, n.b.radius, "alice", password, nil); again.code != radius.CodeAccessChallenge {
		t.Fatalf("alice again: %v, want Access-Challenge", again.code)
	}
	// A node decides at a request's arrival whether to trace it: with
	// nobody traced the request had no tracer, so nothing can follow.
	if got := n.traceKeys(t, "alice"); len(got) != len(written) {
		t.Errorf("alice's login after the trace wrote records: %v", got)
	}
	if got := n.traceKeys(t, "bob"); len(got) != 0 {
		t.Errorf("bob's records: %v", got)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// squash is s with every run of spaces and newlines made one space, so
// that the output's columns do not matter.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
