// Package confcheck is what a package that owns a section of the
// configuration file reports when the section is wrong: every problem at
// once, each under the key of the setting at fault.
//
// Each package owns its settings (dex's connector/ldap.Config is the
// model): a struct with yaml tags, read by its constructor, whose
// Validate returns a Problems naming each setting as the file spells it
// below the section ("urls[1]", "session.ttl"). configs, which reads the
// file, puts the section's path before each field and the line of the
// key before that; it copies no field and rewrites no message.
//
// The type lives in a package of its own, a leaf that imports no package
// of ours, because configs imports every owner: an owner could not
// return a type of configs. (One error type per owner, as
// cluster.EmbeddedConfigError was, would leave configs one adapter per
// owner.) Beside it are the parsers of the values that several sections
// write alike, so that each kind of value is read, and refused, one way:
// an address or CIDR prefix, host:port, and the TLS files a client
// section names (TLSFiles).
package confcheck

import (
	"errors"
	"fmt"
	"strings"
)

// Problem is one thing wrong with a setting.
type Problem struct {
	// Field is the setting's key below the section being checked, as the
	// configuration file spells it: "base_dn", "urls[1]", "session.ttl";
	// "" for the section as a whole.
	Field string
	// Message says what is wrong and, where it can, what to do. It never
	// repeats a secret.
	Message string
}

// String is "field: message", or the message alone for the section.
func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// Problems is every problem a section has. As an error it lists them on
// one line; constructors wrap it with what they configure.
type Problems []Problem

// Add records a problem of field.
func (ps *Problems) Add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Include records the problems of err, the check of a section nested at
// prefix: those of a Problems under prefix, any other error as one
// problem of prefix. A nil err adds nothing.
func (ps *Problems) Include(prefix string, err error) {
	if err == nil {
		return
	}
	var sub Problems
	if !errors.As(err, &sub) {
		*ps = append(*ps, Problem{Field: prefix, Message: err.Error()})
		return
	}
	for _, p := range sub {
		*ps = append(*ps, Problem{Field: Join(prefix, p.Field), Message: p.Message})
	}
}

// Err returns ps as an error, nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Error lists the problems as "field: message", separated by semicolons.
func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// Join puts a field below a section's path: ("portal", "session.ttl") is
// portal.session.ttl, ("clients", "[2].name") clients[2].name.
func Join(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	case strings.HasPrefix(field, "["):
		return path + field
	}
	return path + "." + field
}
