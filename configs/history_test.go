package configs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"twostep/history"
)

func TestHistorySection(t *testing.T) {
	const head = "clients: [{name: a, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]\ndirectory: {backend: file, file: {path: users.yaml}}\n"
	tests := []struct {
		name string
		src  string
		want history.Config
	}{
		{"left out: on, 30 days, 200 a user, the reference in rejects", "", history.Config{Enabled: true, Retention: 720 * time.Hour, PerUser: 200, ReferenceInReply: true}},
		{"some keys", "history: {retention: 168h, per_user: 50}\n", history.Config{Enabled: true, Retention: 168 * time.Hour, PerUser: 50, ReferenceInReply: true}},
		{"turned off", "history: {enabled: false, reference_in_reply: false}\n", history.Config{Retention: 720 * time.Hour, PerUser: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/twostep/t.yaml", []byte(head+tt.src), fakeEnv)
			if err != nil {
				t.Fatal(err)
			}
			if c.History != tt.want {
				t.Errorf("got %+v, want %+v", c.History, tt.want)
			}
		})
	}
	t.Run("every problem with its line", func(t *testing.T) {
		_, err := Parse("t.yaml", []byte(head+"history:\n  retention: 30m\n  per_user: 0\n  per_user_cap: 3\n"), fakeEnv)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("got %v, want *configs.Error", err)
		}
		for _, want := range []string{"t.yaml:4: history.retention: must be 1h to 366 days", "t.yaml:6: history.per_user_cap: unknown key"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
	})
}
