package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ctlEnv runs twostepctl with env as its whole environment.
func ctlEnv(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := newCLI(strings.NewReader(""), &out, &errOut)
	c.getenv = func(k string) string { return env[k] }
	err = c.exec(context.Background(), args)
	return out.String(), errOut.String(), err
}

// shellWords splits a command line as commandLine quotes it: words apart
// by spaces, single quotes around words that need them, \' for a quote.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range s {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case r == '\\' && !quoted:
			escaped, inWord = true, true
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

var hintRE = regexp.MustCompile("enroll one with: (twostepctl .*)\n")

// TestHintsKeepConfig: a command printed as a hint runs as printed: with
// the -config the command at hand was given (before or after its name),
// and without it when the file is the one a bare twostepctl reads
// ($TWOSTEP_CONFIG).
func TestHintsKeepConfig(t *testing.T) {
	tc := newTestCluster(t)
	// The same files under a directory whose name needs quotes.
	spaced := filepath.Join(t.TempDir(), "my twostep's files")
	if err := os.Symlink(filepath.Dir(tc.config), spaced); err != nil {
		t.Fatal(err)
	}
	spacedConfig := filepath.Join(spaced, "twostep.yaml")
	other := filepath.Join(t.TempDir(), "other.yaml")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"-config before the command", nil, []string{"-config", tc.config, "devices", "bob"}, "twostepctl -config " + tc.config + " enroll bob"},
		{"-config after the command", nil, []string{"devices", "-config", tc.config, "bob"}, "twostepctl -config " + tc.config + " enroll bob"},
		{"a path that needs quotes", nil, []string{"devices", "-config", spacedConfig, "bob"}, "twostepctl -config '" + strings.ReplaceAll(spacedConfig, "'", `'\''`) + "' enroll bob"},
		{"TWOSTEP_CONFIG", map[string]string{"TWOSTEP_CONFIG": tc.config}, []string{"devices", "bob"}, "twostepctl enroll bob"},
		{"-config beside TWOSTEP_CONFIG", map[string]string{"TWOSTEP_CONFIG": other}, []string{"devices", "-config", tc.config, "bob"}, "twostepctl -config " + tc.config + " enroll bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := ctlEnv(t, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			m := hintRE.FindStringSubmatch(out)
			if m == nil || m[1] != tt.want {
				t.Fatalf("got %q, want the hint %q", out, tt.want)
			}
			// The hint runs as printed, in the same environment.
			words := shellWords(t, m[1])
			out, errOut, err = ctlEnv(t, tt.env, append(words[1:], "-confirm=false")...)
			if err != nil || !strings.Contains(out, "enrolled device") {
				t.Fatalf("the hint %q: %v\n%s%s", m[1], err, out, errOut)
			}
			if _, _, err := ctlEnv(t, tt.env, "-config", tc.config, "device", "remove", "-yes", "bob", "authenticator"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHintsInErrors: the hints in errors carry -config too.
func TestHintsInErrors(t *testing.T) {
	tc := newTestCluster(t)
	_, _, err := ctl(t, "", "device", "rename", "-config", tc.config, "alice", "pager", "x")
	want := "alice has no device \"pager\"; list them with `twostepctl -config " + tc.config + " devices alice`"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"müller", "müller"},
		{"/etc/twostep/twostep.yaml", "/etc/twostep/twostep.yaml"},
		{"alice@example.edu", "alice@example.edu"},
		{"USER", "USER"},
		{"...", "..."},
		{"old phone", "'old phone'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
		{"", "''"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := shellQuote(tt.in); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
