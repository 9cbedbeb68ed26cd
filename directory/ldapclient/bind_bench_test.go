package ldapclient

import (
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// BenchmarkEncodeBind is the user bind's request, encoded for every
// password check (docs/BENCHMARKS.md, "Micro-benchmarks"), with the
// password-policy control twostepd sends; beside it go-ldap's own
// encoding of the same message, which encodeBind replaced.
func BenchmarkEncodeBind(b *testing.B) {
	const dn, pw = "uid=alice,ou=people,dc=example,dc=edu", "correct horse battery staple"
	ctls := []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
	controls := EncodeControls(ctls)
	b.Run("encodeBind", func(b *testing.B) {
		b.ReportAllocs()
		id := int64(1)
		for b.Loop() {
			if len(encodeBind(id, dn, pw, controls)) == 0 {
				b.Fatal("empty request")
			}
			id++
		}
	})
	b.Run("go-ldap", func(b *testing.B) {
		b.ReportAllocs()
		id := int64(1)
		for b.Loop() {
			if len(goLDAPBind(id, dn, pw, ctls)) == 0 {
				b.Fatal("empty request")
			}
			id++
		}
	})
}

// goLDAPBind builds the BindRequest as go-ldap's Conn.Bind does, with
// asn1-ber packets.
func goLDAPBind(id int64, dn, pw string, ctls []ldap.Control) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "Bind Request")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "User Name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, pw, "Password"))
	env.AppendChild(op)
	if len(ctls) > 0 {
		c := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, ctl := range ctls {
			c.AppendChild(ctl.Encode())
		}
		env.AppendChild(c)
	}
	return env.Bytes()
}
