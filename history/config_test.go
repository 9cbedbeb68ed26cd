package history_test

import (
	"strings"
	"testing"
	"time"

	"twostep/history"
)

func TestConfig(t *testing.T) {
	d := history.DefaultConfig()
	if !d.Enabled || !d.ReferenceInReply || d.Retention != 720*time.Hour || d.PerUser != 200 {
		t.Errorf("defaults %+v, want on, 720h, 200, the reference in rejects", d)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if got := (history.Config{}).WithDefaults(); got.Retention != 720*time.Hour || got.PerUser != 200 {
		t.Errorf("zero values: %+v, want the defaults", got)
	}
	tests := []struct {
		cfg  history.Config
		want []string
	}{
		{history.Config{Retention: time.Minute, PerUser: -1}, []string{"retention: must be 1h", "per_user: must be 1 to 10000; got -1"}},
		{history.Config{Retention: 400 * 24 * time.Hour, PerUser: 10001}, []string{"retention: must be", "per_user: must be"}},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil {
			t.Errorf("%+v: no error", tt.cfg)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v, want %q", tt.cfg, err, w)
			}
		}
	}
}
