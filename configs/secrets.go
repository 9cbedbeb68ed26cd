package configs

import (
	"bytes"
)

// Secrets (shared secrets, passwords) are written in the file, in a file
// of their own or in an environment variable: K, K_file or K_env for a
// setting whose owner tags it config:"secret" with key K. The decoder
// keeps what the file wrote of each aside; Parse resolves those its
// sections use and sets the owner's field.

// source is where a secret is written.
type source int

const (
	inline   source = iota // K: in the configuration file
	fromFile               // K_file: the file's content, trailing newline removed
	fromEnv                // K_env: the environment variable's value
)

// secretSource is what the file wrote of one secret, by source.
type secretSource [3]string

// given reports whether the file names the secret in any way.
func (s secretSource) given() bool { return s != secretSource{} }

// secretAt returns what the file wrote of the secret whose key is field,
// to be filled by the decoder.
func (v *validator) secretAt(field string) *secretSource {
	if v.secrets == nil {
		v.secrets = map[string]*secretSource{}
	}
	s, ok := v.secrets[field]
	if !ok {
		s = &secretSource{}
		v.secrets[field] = s
	}
	return s
}

// givenSecret reports whether the file names the secret field.
func (v *validator) givenSecret(field string) bool {
	s, ok := v.secrets[field]
	return ok && s.given()
}

// unresolved stands in, for the checks that pair a password with a user
// name, for a password whose source was named but could not be read (or
// decoded): that problem is reported already, and "give both or neither"
// would be a second, wrong one. It never leaves Parse.
const unresolved = "\x00unresolved"

// secret resolves at most one of field, field_file, field_env (exactly
// one when required), at most maxLen bytes when maxLen is positive.
// Messages name where the secret comes from, never what it is. A source
// that was given but could not be read is reported, and nil returned.
func (v *validator) secret(field string, required bool, maxLen int, dir string, env Env) []byte {
	if v.unread(field) || v.unread(field+"_file") || v.unread(field+"_env") {
		return nil // its value is reported already
	}
	var src secretSource
	if s, ok := v.secrets[field]; ok {
		src = *s
	}
	given := 0
	for _, s := range src {
		if s != "" {
			given++
		}
	}
	p, name := parentPath(field), field[len(parentPath(field)):]
	if p != "" {
		name = name[1:] // the '.'
	}
	switch {
	case given > 1 || (given == 0 && required):
		v.add(p, "give exactly one of %s, %s_file, %s_env", name, name, name)
		return nil
	case given == 0:
		return nil
	}
	var s []byte
	switch {
	case src[inline] != "":
		s = []byte(src[inline])
	case src[fromFile] != "":
		field += "_file"
		b, err := env.ReadFile(absPath(dir, src[fromFile]))
		if err != nil {
			v.add(field, "cannot read the secret: %v", err)
			return nil
		}
		s = bytes.TrimRight(b, "\r\n")
	default:
		field += "_env"
		s = []byte(env.Getenv(src[fromEnv]))
		if len(s) == 0 {
			v.add(field, "environment variable %s is empty or not set", src[fromEnv])
			return nil
		}
	}
	switch {
	case len(s) == 0:
		v.add(field, "the secret is empty")
	case maxLen > 0 && len(s) > maxLen:
		v.add(field, "the secret is %d bytes; at most %d are allowed", len(s), maxLen)
	}
	return s
}
