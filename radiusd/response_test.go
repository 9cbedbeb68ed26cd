package radiusd

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReplyMessages(t *testing.T) {
	tests := []struct {
		name  string
		msg   string
		parts int
	}{
		{"empty", "", 0},
		{"short", "Enter your passcode", 1},
		{"253", strings.Repeat("a", 253), 1},
		{"254", strings.Repeat("a", 254), 2},
		{"600", strings.Repeat("a", 600), 3},
		{"UTF-8 across the cut", strings.Repeat("a", 252) + "é" + "b", 2},
		{"not UTF-8", strings.Repeat("\x80", 300), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replyMessages(tt.msg)
			if len(got) != tt.parts {
				t.Fatalf("got %d parts, want %d", len(got), tt.parts)
			}
			var joined string
			for _, p := range got {
				if len(p) > 253 || len(p) == 0 {
					t.Errorf("part of %d bytes", len(p))
				}
				if utf8.ValidString(tt.msg) && !utf8.Valid(p) {
					t.Errorf("part %q is not valid UTF-8", p)
				}
				joined += string(p)
			}
			if joined != tt.msg {
				t.Errorf("parts do not join back to the message")
			}
		})
	}
}
