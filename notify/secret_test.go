package notify_test

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// assertNoSecret fails t if err's text holds any of secrets, raw, in hex or
// in base64 (std or URL alphabet, with or without padding).
func assertNoSecret(t *testing.T, err error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		for _, form := range []string{
			string(s),
			hex.EncodeToString(s),
			base64.StdEncoding.EncodeToString(s),
			base64.RawStdEncoding.EncodeToString(s),
			base64.URLEncoding.EncodeToString(s),
			base64.RawURLEncoding.EncodeToString(s),
		} {
			if strings.Contains(msg, form) {
				t.Errorf("error %q holds a secret (%q)", msg, form)
			}
		}
	}
}
