package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"layeh.com/radius"

	"twostep/cluster"
	"twostep/history/syslog/rsyslogtest"
)

// TestClusterSyslog: three nodes send their login records to a real
// rsyslogd, one over each network (udp, tcp, tls), as RFC 5424 messages
// whose MSG is the record's JSON with exactly the history's field names;
// the audit events of twostepctl commands leave the cluster once, from
// the node that holds the claim.
func TestClusterSyslog(t *testing.T) {
	rs := rsyslogtest.Start(t)
	sections := []string{
		fmt.Sprintf("{network: udp, address: %q}", rs.UDPAddr),
		fmt.Sprintf("{network: tcp, address: %q}", rs.TCPAddr),
		fmt.Sprintf("{network: tls, address: %q, ca_file: %s}", rs.TLSAddr, rs.CAFile),
	}
	inputs := []string{rsyslogtest.InputUDP, rsyslogtest.InputTCP, rsyslogtest.InputTLS}
	n := startNodesExtra(t, nil, func(i int) string { return "history:\n  syslog: " + sections[i] + "\n" }, "secure", "secure", "secure")

	fields := []string{"client", "decision", "device", "factor", "from", "id", "nas_addr", "nas_id", "node", "reason", "time", "typed_user", "user"}
	for i, d := range n.all {
		node := fmt.Sprintf("node-%d", i+1)
		t.Run(inputs[i], func(t *testing.T) {
			got := login(t, d.radius, clusterUser, "wrong-password", nil)
			if got.code != radius.CodeAccessReject || got.ref == "" {
				t.Fatalf("got %v %q, want an Access-Reject with a reference", got.code, got.ref)
			}
			ms := rs.Wait(t, 1, func(m rsyslogtest.Message) bool { return m.Input == inputs[i] && m.MsgID == "login" })
			m := ms[0]
			if m.Hostname != node || m.AppName != "twostep" || m.Facility != 10 || m.Severity != 5 || m.SD != "-" {
				t.Errorf("header %+v, want %s, twostep, authpriv, notice, no structured data", m, node)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(m.Msg), &rec); err != nil {
				t.Fatalf("MSG %q: %v", m.Msg, err)
			}
			if keys := slices.Sorted(maps.Keys(rec)); !slices.Equal(keys, fields) {
				t.Errorf("fields %v, want exactly %v", keys, fields)
			}
			id, _ := rec["id"].(string)
			if cluster.LoginReference(id) != got.ref || rec["user"] != clusterUser || rec["decision"] != "reject" ||
				rec["reason"] != "bad_password" || rec["node"] != node || rec["client"] != "nas" {
				t.Errorf("record %v, want carol's bad_password reject by %s, referenced %s", rec, node, got.ref)
			}
		})
	}

	t.Run("audit events once", func(t *testing.T) {
		for _, cmd := range []string{"lock", "unlock"} {
			if _, errOut, err := n.a.twostepctl(t, cmd, clusterUser); err != nil {
				t.Fatalf("twostepctl %s: %v\n%s", cmd, err, errOut)
			}
		}
		audit := func(m rsyslogtest.Message) bool { return m.MsgID == "audit" }
		ms := rs.Wait(t, 2, audit)
		var actions []string
		for _, m := range ms {
			var e map[string]any
			if err := json.Unmarshal([]byte(m.Msg), &e); err != nil {
				t.Fatalf("MSG %q: %v", m.Msg, err)
			}
			if keys := slices.Sorted(maps.Keys(e)); !slices.Equal(keys, []string{"action", "actor", "detail", "nonce", "time", "user"}) {
				t.Errorf("fields %v", keys)
			}
			actor, _ := e["actor"].(string)
			if e["user"] != clusterUser || !strings.HasPrefix(actor, "twostepctl ") || m.Hostname != ms[0].Hostname || !strings.HasPrefix(m.Hostname, "node-") {
				t.Errorf("event %v from %s, want carol's, by twostepctl, sent by one node", e, m.Hostname)
			}
			actions = append(actions, e["action"].(string))
		}
		// Each sent once: the unlock came after the lock, so a second copy
		// of the lock would be there by now.
		if fmt.Sprint(actions) != "[user.lock user.unlock]" {
			t.Errorf("audit messages %v, want the lock and the unlock, once each", actions)
		}
	})
}
