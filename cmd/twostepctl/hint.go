package main

import (
	"strings"
	"unicode"
)

// configEnv names the environment variable that, when set, is the
// configuration file of every command run without -config (twostepd
// reads it too).
const configEnv = "TWOSTEP_CONFIG"

// implicitConfig is the configuration a command given no -config reads:
// $TWOSTEP_CONFIG, or /etc/twostep/twostep.yaml.
func implicitConfig(getenv func(string) string) string {
	if p := getenv(configEnv); p != "" {
		return p
	}
	return defaultConfig
}

// command renders a command line to suggest in a message, so that it runs
// as printed: with -config when the command at hand read another file
// than a bare twostepctl would, and each argument quoted for a shell
// where it needs to be.
func (c *cli) command(config string, args ...string) string {
	if config != "" && config != c.implicit {
		args = append([]string{"-config", config}, args...)
	}
	return commandLine(args...)
}

// commandLine renders twostepctl with args, each quoted for a shell where
// it needs to be, for commands that read no configuration.
func commandLine(args ...string) string {
	words := []string{"twostepctl"}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// shellQuote returns s as one word of a POSIX shell: as it is when it is
// made of safe characters only, else in single quotes. Placeholders in
// capitals (USER, FILE) and "..." stay as they are.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if s == "..." || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == "" {
		return s
	}
	safe := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("@%+=:,./_-", r) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
