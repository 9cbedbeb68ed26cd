package main

import "strings"

// groupCode splits a help-desk code into groups of three digits, to be
// read aloud over the phone: "123 456 789". A last group of one digit
// joins the one before: "123 4567".
func groupCode(code string) string {
	var groups []string
	for i := 0; i < len(code); i += 3 {
		groups = append(groups, code[i:min(i+3, len(code))])
	}
	if n := len(groups); n > 1 && len(groups[n-1]) == 1 {
		groups[n-2] += groups[n-1]
		groups = groups[:n-1]
	}
	return strings.Join(groups, " ")
}

// typedCode reads a code as an admin types it: grouped as printed
// ("123 456 789") or with dashes. ok is false when it is not digits.
func typedCode(s string) (code string, ok bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if code == "" {
		return "", false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return code, true
}
