package otp_test

import (
	"testing"

	"twostep/challenge/otp"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"digits", "123456", "123456", true},
		{"grouped by spaces", "123 456 789", "123456789", true},
		{"grouped by dashes", "1234-5678", "12345678", true},
		{"a tab between groups", "123\t456", "123456", true},
		{"twelve digits", "123456789012", "123456789012", true},
		{"too short", "12345", "", false},
		{"too long", "1234567890123", "", false},
		{"a letter", "12345a", "", false},
		{"other white space", "123\r456", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := otp.Normalize(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %q, %v, want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
