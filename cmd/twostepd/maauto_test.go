package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostep/cluster"
)

// TestCheckWarnsMessageAuthenticator: -check warns for clients that do not
// require Message-Authenticator (false) or not yet (auto), and says that a
// wrong shared secret then shows up as bad_password for everybody.
func TestCheckWarnsMessageAuthenticator(t *testing.T) {
	tests := []struct {
		setting string
		want    []string // in the warning; none when empty
	}{
		{"true", nil},
		{"auto", []string{"warning: client nas has require_message_authenticator: auto", "BlastRADIUS", "a wrong shared secret shows up as bad_password for every user"}},
		{"false", []string{"warning: client nas has require_message_authenticator: false", "BlastRADIUS", "a wrong shared secret shows up as bad_password for every user", "use auto"}},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600)
			cfg := writeConfig(t, dir, fmt.Sprintf("  - {name: nas, networks: [127.0.0.1], secret: %s, require_message_authenticator: %s}\n", testSecret, tt.setting))
			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{"-config", cfg, "-check"}, &out, &errOut); err != nil {
				t.Fatalf("-check: %v\n%s", err, errOut.String())
			}
			if !strings.Contains(out.String(), "Message-Authenticator required: "+tt.setting) {
				t.Errorf("-check does not say the client's setting %s:\n%s", tt.setting, out.String())
			}
			for _, want := range tt.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("-check output lacks %q:\n%s", want, out.String())
				}
			}
			if tt.want == nil && strings.Contains(out.String(), "require_message_authenticator") {
				t.Errorf("-check warns about a client that requires Message-Authenticator:\n%s", out.String())
			}
		})
	}
}

// TestClusterMessageAuthenticatorAuto: a client with
// require_message_authenticator auto is taken without the attribute (a
// NAS that cannot send it) until it sends one to any node; from then on
// the node the NAS fails over to drops its requests without one too,
// saying what to change, because the cluster remembers it in etcd.
func TestClusterMessageAuthenticatorAuto(t *testing.T) {
	n := startNodesExtra(t, nil, func(int) string {
		return fmt.Sprintf("clients:\n  - {name: legacy, networks: [127.0.0.0/8], secret: %s, require_message_authenticator: auto}\npasscodes: {unenrolled: {action: allow}}\n", testSecret)
	}, "secure", "secure")
	plain := fmt.Sprintf("User-Name = %s\nUser-Password = %s\n", clusterUser, clusterPassword)
	signed := plain + "Message-Authenticator = 0x00\n"
	steps := []struct {
		name, attrs string
		node        *daemonProc
		want        string
	}{
		{"node A, without: taken", plain, n.a, "Received Access-Accept"},
		{"node A, with: taken and remembered", signed, n.a, "Received Access-Accept"},
		{"node A, without: dropped", plain, n.a, "No reply"},
		{"node B, without: dropped, from etcd", plain, n.b, "No reply"},
		{"node B, with: taken", signed, n.b, "Received Access-Accept"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, _ := radclient(t, st.node.radius, "auth", testSecret, st.attrs)
			if !strings.Contains(out, st.want) {
				t.Fatalf("radclient: want %q\n%s\n%s", st.want, out, st.node.logText())
			}
		})
	}
	n.b.waitLog(t, `"cause":"missing_message_authenticator"`)
	n.b.waitLog(t, "has sent Message-Authenticator before")
	e, err := n.store.Get(context.Background(), cluster.MessageAuthenticatorKey("legacy"))
	if err != nil || !bytes.Contains(e.Value, []byte(`"client":"legacy"`)) {
		t.Errorf("etcd record %s: %q, %v", cluster.MessageAuthenticatorKey("legacy"), e.Value, err)
	}
	if got := n.b.metric(t, `twostep_radius_packets_dropped_total{cause="missing_message_authenticator"}`); got != "1" {
		t.Errorf("node B's missing_message_authenticator drops: got %q, want 1", got)
	}
}
