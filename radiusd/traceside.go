package radiusd

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/dictionary"

	"twostep/cluster"
)

// The RADIUS layer's part in `twostepctl trace` (Options.Trace): a
// traced request's packet as it came, its answer as it left, each
// attribute named by the dictionaries (the RFC attributes layeh/radius
// ships, the built-in vendors, radius.dictionaries) and every value that
// could help to log in masked: User-Password (with any passcode or push
// keyword after the separator), CHAP and ARAP material, EAP-Message,
// State, Proxy-State, Message-Authenticator, Tunnel-Password, every
// attribute a dictionary marks encrypted, every Microsoft attribute
// (MS-CHAP, MPPE keys) and every vendor attribute whose name speaks of a
// password, secret, key, challenge or response, and anything no
// dictionary names. A masked value shows its length only. The
// attributes are made only once the request turns out to be traced.

// traceRequest records x's Access-Request on its tracer.
func (x *exchange) traceRequest() {
	if x.tr == nil {
		return
	}
	p, dict := x.p, x.s.dict
	detail := fmt.Sprintf("Access-Request id %d from %s", p.Identifier, x.src)
	if x.dst.IsValid() {
		detail += " to " + x.dst.String()
	}
	detail += ", client " + x.c.Name
	x.tr.Packet("request", detail, func() []cluster.TraceAttribute { return dict.traceAttributes(p) })
}

// traceReply records the answer resp of code, decided in decided and held
// back hold (the reject delay), and ends x's trace.
func (x *exchange) traceReply(code radius.Code, resp []byte, hold, decided time.Duration) {
	if x.tr == nil {
		return
	}
	v := &x.v
	detail := code.String() + " (" + reasonLabel(v.d.Reason)
	if v.d.Factor != "" {
		detail += ", factor " + string(v.d.Factor)
	}
	if v.d.Device != "" {
		detail += ", device " + v.d.Device
	}
	detail += fmt.Sprintf("), decided in %s", decided.Round(time.Microsecond))
	if hold > 0 {
		detail += fmt.Sprintf(", held %s more (radius.reject_delay)", hold.Round(time.Millisecond))
	}
	if v.err != nil {
		detail += "; the decision failed (see the log line)"
	}
	dict, secret := x.s.dict, x.c.Secret
	x.tr.Packet("reply", detail, func() []cluster.TraceAttribute {
		p, err := radius.Parse(resp, secret)
		if err != nil {
			return nil
		}
		attrs := dict.traceAttributes(p)
		if code == radius.CodeAccessChallenge {
			// A challenge's prompt may carry verified push's number,
			// which only the user at the NAS may see (the trace is
			// readable by whoever reads etcd while the push waits): its
			// digits are masked, its words kept.
			for i, avp := range p.Attributes {
				if avp.Type == 18 { // Reply-Message
					attrs[i].Value = maskDigits(attrs[i].Value)
				}
			}
		}
		return attrs
	})
	x.tr.End(x.id, v.canonical)
}

// maskDigits replaces every digit of s with #.
func maskDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, s)
}

// secretTypes are the standard attributes whose values are masked
// whatever a dictionary says, by name (for those the dictionaries may
// lack).
var secretTypes = map[radius.Type]string{
	2:  "User-Password",
	3:  "CHAP-Password",
	24: "State",
	33: "Proxy-State",
	60: "CHAP-Challenge",
	69: "Tunnel-Password",
	70: "ARAP-Password",
	74: "ARAP-Security-Data",
	79: "EAP-Message",
	80: "Message-Authenticator",
	84: "ARAP-Challenge-Response",
}

// vendorMicrosoft carries MS-CHAP and MPPE keys: all of it is masked.
const vendorMicrosoft = 311

// secretWords mark a vendor attribute's name as holding a secret.
var secretWords = []string{"password", "secret", "key", "challenge", "response"}

// traceAttributes names p's attributes and masks their secrets.
func (d *Dictionary) traceAttributes(p *radius.Packet) []cluster.TraceAttribute {
	out := make([]cluster.TraceAttribute, 0, len(p.Attributes))
	for _, avp := range p.Attributes {
		out = append(out, d.traceAttribute(avp))
	}
	return out
}

// traceAttribute names one attribute and shows its value, or masks it.
func (d *Dictionary) traceAttribute(avp *radius.AVP) cluster.TraceAttribute {
	if avp.Type == 26 {
		return d.traceVendor(avp.Attribute)
	}
	if name, ok := secretTypes[avp.Type]; ok {
		return cluster.TraceAttribute{Name: name, Value: masked(avp.Attribute)}
	}
	for _, dict := range d.all {
		a := dictionary.AttributeByOID(dict.Attributes, dictionary.OID{int(avp.Type)})
		if a == nil {
			continue
		}
		if encrypted(a) {
			return cluster.TraceAttribute{Name: a.Name, Value: masked(avp.Attribute)}
		}
		return cluster.TraceAttribute{Name: a.Name, Value: showValue(a, dict.Values, avp.Attribute)}
	}
	return cluster.TraceAttribute{Name: "Attr-" + strconv.Itoa(int(avp.Type)), Value: masked(avp.Attribute) + " (in no dictionary)"}
}

// traceVendor names a Vendor-Specific attribute by its vendor and type,
// in the common format (a one-byte type and length), and shows or masks
// its value.
func (d *Dictionary) traceVendor(v radius.Attribute) cluster.TraceAttribute {
	unknown := cluster.TraceAttribute{Name: "Vendor-Specific", Value: masked(v) + " (in no dictionary)"}
	if len(v) < 6 || int(v[5]) != len(v)-4 || v[5] < 2 {
		return unknown
	}
	vendor, typ, value := binary.BigEndian.Uint32(v[:4]), int(v[4]), radius.Attribute(v[6:])
	unknown.Name = fmt.Sprintf("Vendor-%d-Attr-%d", vendor, typ)
	for _, dict := range d.dicts {
		ven := dictionary.VendorByNumber(dict.Vendors, int(vendor))
		if ven == nil {
			continue
		}
		a := dictionary.AttributeByOID(ven.Attributes, dictionary.OID{typ})
		if a == nil {
			continue
		}
		if vendor == vendorMicrosoft || encrypted(a) || secretName(a.Name) {
			return cluster.TraceAttribute{Name: a.Name, Value: masked(value)}
		}
		return cluster.TraceAttribute{Name: a.Name, Value: showValue(a, ven.Values, value)}
	}
	return unknown
}

// encrypted reports whether a dictionary marks a encrypted (User-Password
// style, Tunnel-Password style, Ascend's).
func encrypted(a *dictionary.Attribute) bool {
	return a.FlagEncrypt.Valid && a.FlagEncrypt.Int != 0
}

// secretName reports whether an attribute's name speaks of a secret.
func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// masked stands for a value that is not shown.
func masked(v []byte) string { return fmt.Sprintf("<masked, %d bytes>", len(v)) }

// showValue writes v as a's type reads it: a quoted string, a number or
// its VALUE name, an address, a time; hex for octets (with the text, when
// it is printable) and anything whose length does not fit its type.
func showValue(a *dictionary.Attribute, values []*dictionary.Value, v []byte) string {
	switch a.Type {
	case dictionary.AttributeString:
		return strconv.Quote(string(v))
	case dictionary.AttributeInteger:
		if len(v) == 4 {
			n := uint64(binary.BigEndian.Uint32(v))
			for _, val := range dictionary.ValuesByAttribute(values, a.Name) {
				if val.Number == n {
					return val.Name
				}
			}
			return strconv.FormatUint(n, 10)
		}
	case dictionary.AttributeIPAddr:
		if len(v) == net.IPv4len {
			return net.IP(v).String()
		}
	case dictionary.AttributeIPv6Addr:
		if len(v) == net.IPv6len {
			return net.IP(v).String()
		}
	case dictionary.AttributeDate:
		if len(v) == 4 {
			return time.Unix(int64(binary.BigEndian.Uint32(v)), 0).UTC().Format(time.RFC3339)
		}
	case dictionary.AttributeOctets:
		if printable(v) {
			// Class and the like are often text.
			return "0x" + hex.EncodeToString(v) + " (" + strconv.Quote(string(v)) + ")"
		}
	}
	return "0x" + hex.EncodeToString(v)
}

// printable reports whether v is printable ASCII text.
func printable(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return len(v) > 0
}
