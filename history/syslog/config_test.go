package syslog

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	if (Config{}).Enabled() || (Config{}).Validate() != nil {
		t.Error("the zero section: want off, without problems")
	}
	d := Config{Address: "siem:6514"}.WithDefaults()
	if d.Network != "tls" || d.AppName != "twostep" || d.Facility != "authpriv" || d.Hostname != "" {
		t.Errorf("defaults %+v, want tls, twostep, authpriv, the node's name", d)
	}
	tests := []struct {
		cfg  Config
		want []string // problems; none when empty
	}{
		{Config{Address: "siem:6514"}, nil},
		{Config{Network: "udp", Address: "[2001:db8::1]:514", Facility: "local7", AppName: "vpn-2fa", Hostname: "vpn1.example.com"}, nil},
		{Config{Network: "relp", Address: "siem"}, []string{`network: "relp": want udp, tcp or tls`, `address: "siem": want the receiver's host:port`}},
		{Config{Network: "tcp", Address: ":514"}, []string{`address: ":514": want the receiver's host:port`}},
		{Config{Network: "tcp", Address: "siem:0"}, []string{"the port must be a number from 1 to 65535"}},
		{Config{Network: "tcp", Address: "siem:514", Facility: "AUTH"}, []string{`facility: "AUTH": want a syslog facility name`}},
		{Config{Address: "siem:6514", AppName: strings.Repeat("a", 49), Hostname: "vpn 1"},
			[]string{"app_name: ", "at most 48 printable ASCII", `hostname: "vpn 1": at most 255`}},
		{Config{Network: "udp", Address: "siem:514", CAFile: "ca.pem", ServerName: "siem"}, []string{"ca_file: only with network: tls", "server_name: only with network: tls"}},
		{Config{Address: "siem:6514", CertFile: "c.pem"}, []string{"cert_file: set without key_file"}},
		{Config{Address: "siem:6514", CAFile: "/nonexistent/ca.pem"}, []string{"ca_file: open /nonexistent/ca.pem"}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%+v: %v", tt.cfg, err)
			}
			continue
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v, want %q", tt.cfg, err, w)
			}
		}
	}
}

func TestPlaintext(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want bool
	}{
		{Config{}, false},
		{Config{Address: "siem:6514"}, false},
		{Config{Network: "udp", Address: "127.0.0.1:514"}, false},
		{Config{Network: "tcp", Address: "localhost:514"}, false},
		{Config{Network: "udp", Address: "siem:514"}, true},
		{Config{Network: "tcp", Address: "192.0.2.1:514"}, true},
	} {
		if got := tt.cfg.Plaintext(); got != tt.want {
			t.Errorf("%+v: Plaintext %v, want %v", tt.cfg, got, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	h := newHeader("authpriv", "vpn 1 ñ", "twostep", 4242)
	at := time.Date(2026, 12, 1, 10, 2, 14, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name     string
		severity int
		t        time.Time
		msgID    string
		msg      string
		want     string
	}{
		{"a login", severityInfo, at, MsgIDLogin, `{"id":"x"}`, `<86>1 2026-12-01T09:02:14.123456Z vpn_1__ twostep 4242 login - {"id":"x"}`},
		{"an audit event without a time", severityNotice, time.Time{}, MsgIDAudit, `{}`, `<85>1 - vpn_1__ twostep 4242 audit - {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(h.appendMessage(nil, tt.severity, tt.t, tt.msgID, []byte(tt.msg)))
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if framed := string(appendFrame(nil, []byte(got))); framed != strconv.Itoa(len(got))+" "+got {
				t.Errorf("framed %q", framed)
			}
		})
	}
	if got := newHeader("local7", "", strings.Repeat("a", 60), 1); got.hostname != "-" || len(got.appName) != 48 || got.facility != 23 {
		t.Errorf("header %+v, want NILVALUE for no hostname, the app name cut to 48, local7", got)
	}
}
