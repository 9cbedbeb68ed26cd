package radiusd

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"layeh.com/radius"
	"layeh.com/radius/debug"
	"layeh.com/radius/dictionary"
)

// builtinDictionary names the reply attributes VPN concentrators and
// network equipment read most, in FreeRADIUS's dictionary syntax, so that
// a policy can send them without a dictionary file.
const builtinDictionary = `
ATTRIBUTE	Framed-IP-Address	8	ipaddr
ATTRIBUTE	Filter-Id	11	string
ATTRIBUTE	Class	25	octets
ATTRIBUTE	Session-Timeout	27	integer
ATTRIBUTE	Idle-Timeout	28	integer

VENDOR	Cisco	9
BEGIN-VENDOR	Cisco
ATTRIBUTE	Cisco-AVPair	1	string
END-VENDOR	Cisco

VENDOR	Juniper	2636
BEGIN-VENDOR	Juniper
ATTRIBUTE	Juniper-Local-User-Name	1	string
ATTRIBUTE	Juniper-Allow-Commands	2	string
ATTRIBUTE	Juniper-Deny-Commands	3	string
ATTRIBUTE	Juniper-User-Permissions	10	string
END-VENDOR	Juniper

VENDOR	Fortinet	12356
BEGIN-VENDOR	Fortinet
ATTRIBUTE	Fortinet-Group-Name	1	string
ATTRIBUTE	Fortinet-Access-Profile	6	string
END-VENDOR	Fortinet

VENDOR	PaloAlto	25461
BEGIN-VENDOR	PaloAlto
ATTRIBUTE	PaloAlto-Admin-Role	1	string
ATTRIBUTE	PaloAlto-User-Group	5	string
END-VENDOR	PaloAlto
`

// Dictionary encodes reply attributes by name: the built-in attributes,
// and those of FreeRADIUS-format dictionary files (e.g.
// /usr/share/freeradius/dictionary.aruba), which are searched first.
type Dictionary struct {
	dicts []*dictionary.Dictionary
	// all is dicts and the RFC attributes layeh/radius ships, to name a
	// traced packet's attributes (traceside.go).
	all []*dictionary.Dictionary
}

type namedReader struct {
	io.Reader
	name string
}

func (n namedReader) Close() error { return nil }
func (n namedReader) Name() string { return n.name }

// NewDictionary parses files (FreeRADIUS syntax, $INCLUDE relative to each
// file) in front of the built-in attributes.
func NewDictionary(files ...string) (*Dictionary, error) {
	d := &Dictionary{}
	for _, f := range files {
		p := &dictionary.Parser{Opener: &dictionary.FileSystemOpener{}, IgnoreIdenticalAttributes: true}
		dict, err := p.ParseFile(f)
		if err != nil {
			return nil, fmt.Errorf("radiusd: dictionary %s: %w", f, err)
		}
		d.dicts = append(d.dicts, dict)
	}
	p := &dictionary.Parser{}
	builtin, err := p.Parse(namedReader{strings.NewReader(builtinDictionary), "builtin"})
	if err != nil {
		return nil, fmt.Errorf("radiusd: built-in dictionary: %w", err)
	}
	d.dicts = append(d.dicts, builtin)
	d.all = append(slices.Clone(d.dicts), debug.IncludedDictionary)
	return d, nil
}

// ErrUnknownAttribute: no dictionary names the attribute.
var ErrUnknownAttribute = errors.New("unknown attribute; add its dictionary file to radius.dictionaries")

// Encode returns the attribute name with value, ready for a packet: a
// vendor's attribute comes wrapped in Vendor-Specific. Values are read by
// the attribute's type: string as is, octets as text or 0x-hex, integer as
// a number or a VALUE name, ipaddr as an IPv4 address.
func (d *Dictionary) Encode(name, value string) (*radius.AVP, error) {
	for _, dict := range d.dicts {
		if a := dictionary.AttributeByName(dict.Attributes, name); a != nil {
			if len(a.OID) != 1 || a.OID[0] < 1 || a.OID[0] > 255 || a.OID[0] == 26 {
				return nil, fmt.Errorf("attribute %s: not a plain attribute", name)
			}
			v, err := encodeValue(a, dict.Values, value, maxAttrValue)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			return &radius.AVP{Type: radius.Type(a.OID[0]), Attribute: v}, nil
		}
		for _, vendor := range dict.Vendors {
			a := dictionary.AttributeByName(vendor.Attributes, name)
			if a == nil {
				continue
			}
			if vendor.GetTypeOctets() != 1 || vendor.GetLengthOctets() != 1 || len(a.OID) != 1 || a.OID[0] < 0 || a.OID[0] > 255 {
				return nil, fmt.Errorf("attribute %s: vendor %s's format is not supported", name, vendor.Name)
			}
			// Vendor-Specific: 4 bytes vendor id, 1 type, 1 length.
			v, err := encodeValue(a, vendor.Values, value, maxAttrValue-6)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			inner := append(radius.Attribute{byte(a.OID[0]), byte(len(v) + 2)}, v...)
			vsa, err := radius.NewVendorSpecific(uint32(vendor.Number), inner)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: %w", name, err)
			}
			return &radius.AVP{Type: 26, Attribute: vsa}, nil
		}
	}
	return nil, fmt.Errorf("attribute %q: %w", name, ErrUnknownAttribute)
}

func encodeValue(a *dictionary.Attribute, values []*dictionary.Value, s string, max int) ([]byte, error) {
	var b []byte
	switch a.Type {
	case dictionary.AttributeString:
		b = []byte(s)
	case dictionary.AttributeOctets:
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			var err error
			if b, err = hex.DecodeString(h); err != nil {
				return nil, fmt.Errorf("%q is not 0x followed by hex digits", s)
			}
		} else {
			b = []byte(s)
		}
	case dictionary.AttributeInteger:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			found := false
			for _, v := range values {
				if v.Attribute == a.Name && v.Name == s {
					n, found = v.Number, true
				}
			}
			if !found || n > 1<<32-1 {
				return nil, fmt.Errorf("%q is not a number from 0 to 4294967295 or a named value", s)
			}
		}
		b = binary.BigEndian.AppendUint32(nil, uint32(n))
	case dictionary.AttributeIPAddr:
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("%q is not an IPv4 address", s)
		}
		b = ip.AsSlice()
	default:
		return nil, fmt.Errorf("type %v is not supported in replies", a.Type)
	}
	if len(b) == 0 || len(b) > max {
		return nil, fmt.Errorf("value of %d bytes; 1 to %d fit", len(b), max)
	}
	return b, nil
}
