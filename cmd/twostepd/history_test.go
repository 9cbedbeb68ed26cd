package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"

	"twostep/cluster"
	"twostep/radiusd"
)

// These tests read the login history that two nodes sharing etcd write:
// one correlation id per login across nodes, rounds and retransmissions,
// the reference a Reject ends with, twostepctl logins, and answers that
// do not wait for etcd.

// history returns the login records f picks, once at least count are
// there: the nodes write them after their answers.
func (n *twoNodes) history(t *testing.T, f cluster.LoginFilter, count int) []cluster.LoginRecord {
	t.Helper()
	keys, err := cluster.LoadKeyring(n.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	h := cluster.NewHistory(n.store, keys, 0)
	var got []cluster.LoginRecord
	waitFor(t, fmt.Sprintf("%d login records of %+v", count, f), func() bool {
		got, err = h.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		return len(got) >= count
	})
	return got
}

// requestIDs returns the ids of d's request log lines for user, in order.
func (d *daemonProc) requestIDs(t *testing.T, user string) []string {
	t.Helper()
	var ids []string
	for _, l := range strings.Split(d.logText(), "\n") {
		if !strings.Contains(l, `"message":"radius request"`) {
			continue
		}
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if line["user"] == user {
			ids = append(ids, line["id"].(string))
		}
	}
	return ids
}

var (
	ctlOnce sync.Once
	ctlBin  string
	ctlErr  error
)

// twostepctl runs the twostepctl binary, built once beside twostepd, as
// an admin would, with node d's configuration.
func (d *daemonProc) twostepctl(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(twostepctlBin(t), append([]string{"-config", filepath.Join(d.dir, "twostep.yaml")}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// twostepctlBin returns the twostepctl binary, built once beside
// twostepd.
func twostepctlBin(t *testing.T) string {
	t.Helper()
	ctlOnce.Do(func() {
		ctlBin = filepath.Join(filepath.Dir(daemonBin), "twostepctl")
		out, err := exec.Command("go", "build", "-o", ctlBin, "../twostepctl").CombinedOutput()
		if err != nil {
			ctlErr = fmt.Errorf("build twostepctl: %v\n%s", err, out)
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return ctlBin
}

// TestClusterHistoryChallengeAcrossNodes: a login asked on node A and
// answered on node B, once wrongly, is one id in both nodes' log lines
// and in its three records.
func TestClusterHistoryChallengeAcrossNodes(t *testing.T) {
	n := startTwoNodes(t, "secure")
	dev := n.enroll(t, "phone")
	first := login(t, n.a.radius, clusterUser, clusterPassword, nil)
	if first.code != radius.CodeAccessChallenge || first.ref != "" {
		t.Fatalf("node A: got %v %q (%s), want Access-Challenge without a reference", first.code, first.message, first.ref)
	}
	wrong := "000000"
	if dev.Code(dev.Step(time.Now())) == wrong {
		wrong = "111111"
	}
	if got := login(t, n.b.radius, clusterUser, wrong, first.state); got.code != radius.CodeAccessChallenge {
		t.Fatalf("node B, a wrong code: got %v %q, want Access-Challenge", got.code, got.message)
	}
	if got := login(t, n.b.radius, clusterUser, dev.Code(dev.Step(time.Now())), first.state); got.code != radius.CodeAccessAccept {
		t.Fatalf("node B: got %v %q, want Access-Accept", got.code, got.message)
	}

	recs := n.history(t, cluster.LoginFilter{User: clusterUser}, 3)
	var decisions, reasons []string
	for _, r := range recs {
		decisions, reasons = append(decisions, r.Decision), append(reasons, r.Reason)
		if r.ID != recs[0].ID || r.User != clusterUser || r.Client != "nas" || r.NASAddr != "127.0.0.1" || r.Node == "" {
			t.Errorf("record %+v: want the login's one id %s, carol, client nas, NAS 127.0.0.1, a node", r, recs[0].ID)
		}
	}
	if !slices.Equal(decisions, []string{"accept", "challenge", "challenge"}) || !slices.Equal(reasons, []string{"ok", "bad_passcode", "passcode_requested"}) {
		t.Errorf("records %v %v, want the accept, the wrong code's challenge and the first challenge, newest first", decisions, reasons)
	}
	if f := recs[0]; f.Factor != "totp" || f.Device == nil || f.Device.Name != "phone" || f.Device.ID == "" {
		t.Errorf("the accept's factor %q and device %+v, want totp and the phone", f.Factor, f.Device)
	}
	if f := recs[2]; f.Factor != "password" || f.Device != nil {
		t.Errorf("the first round's factor %q and device %+v, want password and none", f.Factor, f.Device)
	}
	if a, b := n.a.requestIDs(t, clusterUser), n.b.requestIDs(t, clusterUser); !slices.Equal(a, []string{recs[0].ID}) || !slices.Equal(b, []string{recs[0].ID, recs[0].ID}) {
		t.Errorf("log lines' ids: A %v, B %v; want the records' %s on each", a, b, recs[0].ID)
	}
}

// TestClusterHistoryPushRetransmission: the NAS sends a push login to
// node A, then the same packet to node B; both answer it once the phone
// approves, under one id.
func TestClusterHistoryPushRetransmission(t *testing.T) {
	pc := startPushCluster(t, 2)
	nas := newNAS(t, clusterUser, clusterPassword+",push")
	send := func(to string) {
		ua, _ := net.ResolveUDPAddr("udp", to)
		if _, err := nas.conn.WriteToUDP(nas.req, ua); err != nil {
			t.Fatal(err)
		}
	}
	send(pc.a.radius)
	m := pc.notification(t) // node A sent the push
	send(pc.b.radius)       // a copy to B, which joins that push
	if _, status, err := pc.answer(t, m, cluster.PushApproved); err != nil || status != 200 {
		t.Fatalf("approve: %d %v", status, err)
	}
	from := map[string]bool{}
	buf := make([]byte, 4096)
	for len(from) < 2 {
		nas.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		k, addr, err := nas.conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("answers from %v, then %v", from, err)
		}
		if err := radiusd.VerifyResponse(buf[:k], nas.req, []byte(testSecret)); err != nil || radius.Code(buf[0]) != radius.CodeAccessAccept {
			t.Fatalf("answer from %s: code %v, %v; want Access-Accept", addr, radius.Code(buf[0]), err)
		}
		from[addr.String()] = true
	}

	recs := pc.history(t, cluster.LoginFilter{User: clusterUser}, 2)
	if len(recs) != 2 || recs[0].ID != recs[1].ID || recs[0].Reason != "push_approved" || recs[1].Reason != "push_approved" ||
		recs[0].Factor != "push" || recs[0].Device == nil || recs[0].Device.ID != pc.device {
		t.Errorf("records %+v, want two approvals of the phone's push under one id", recs)
	}
	if a, b := pc.a.requestIDs(t, clusterUser), pc.b.requestIDs(t, clusterUser); len(a) != 1 || len(b) != 1 || a[0] != recs[0].ID || b[0] != recs[0].ID {
		t.Errorf("log lines' ids: A %v, B %v; want %s on both", a, b, recs[0].ID)
	}
}

// TestClusterHistoryReference: a Reject ends with the login's reference,
// which `twostepctl logins -id` finds; -json has exactly the issue's
// field names.
func TestClusterHistoryReference(t *testing.T) {
	n := startTwoNodes(t, "secure")
	got := login(t, n.a.radius, clusterUser, "wrong-password", nil)
	if got.code != radius.CodeAccessReject || got.ref == "" || got.message != "" {
		t.Fatalf("got %v %q %q, want an Access-Reject with the reference alone", got.code, got.message, got.ref)
	}
	n.history(t, cluster.LoginFilter{User: clusterUser}, 1)

	out, errOut, err := n.b.twostepctl(t, "logins", "-id", got.ref, "-json")
	if err != nil {
		t.Fatalf("twostepctl logins: %v\n%s", err, errOut)
	}
	var recs []map[string]any
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) != 1 {
		t.Fatalf("twostepctl logins -id %q -json: %v\n%s", got.ref, err, out)
	}
	var keys []string
	for k := range recs[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"client", "decision", "device", "factor", "from", "id", "nas_addr", "nas_id", "node", "reason", "time", "typed_user", "user"}; !slices.Equal(keys, want) {
		t.Errorf("fields %v, want exactly %v", keys, want)
	}
	r := recs[0]
	id, _ := r["id"].(string)
	if r["user"] != clusterUser || r["decision"] != "reject" || r["reason"] != "bad_password" || r["factor"] != "password" ||
		cluster.LoginReference(id) != got.ref || !slices.Contains(n.a.requestIDs(t, clusterUser), id) {
		t.Errorf("record %v, want carol's bad_password reject, its id the reference's %s and the log line's", r, got.ref)
	}
	table, _, err := n.b.twostepctl(t, "logins", "-user", "CAROL")
	if err != nil || !strings.Contains(table, id) || !strings.Contains(table, "bad_password") {
		t.Errorf("table %v:\n%s", err, table)
	}
}

// TestClusterHistoryStoreDown: with etcd stopped, answers go out as
// before, and the records that cannot be written are counted.
func TestClusterHistoryStoreDown(t *testing.T) {
	n := startTwoNodes(t, "safe")
	n.enroll(t, "phone")
	n.etcd.Stop()
	if got := login(t, n.a.radius, clusterUser, clusterPassword, nil); got.code != radius.CodeAccessReject || got.message != "The second-factor service is unavailable. Try again in a few minutes." || got.ref == "" {
		t.Errorf("failmode secure: got %v %q %q, want the reject saying the service is unavailable, with the reference", got.code, got.message, got.ref)
	}
	if got := login(t, n.b.radius, clusterUser, clusterPassword, nil); got.code != radius.CodeAccessAccept {
		t.Errorf("failmode safe: got %v %q, want Access-Accept", got.code, got.message)
	}
	for _, d := range []*daemonProc{n.a, n.b} {
		waitFor(t, "the dropped record counted", func() bool {
			v, _ := strconv.ParseFloat(d.metric(t, `twostep_history_records_dropped_total{cause="store_unavailable"}`), 64)
			return v >= 1
		})
		if w := d.metric(t, "twostep_history_records_written_total"); w != "0" {
			t.Errorf("written %q, want 0", w)
		}
	}
}
