package ldapclient

import (
	"errors"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// LDAP protocol operation tags of a search's answers (RFC 4511 §4.5.2).
const (
	tagSearchResultEntry     = ldap.ApplicationSearchResultEntry
	tagSearchResultDone      = ldap.ApplicationSearchResultDone
	tagSearchResultReference = ldap.ApplicationSearchResultReference
	tagIntermediateResponse  = ldap.ApplicationIntermediateResponse
)

// Search runs req and returns what go-ldap's Conn.Search returns: the
// entries, referrals and controls received, and an *ldap.Error for a
// result other than success (with the entries received before it, as
// for sizeLimitExceeded). A malformed answer, or one that is not a
// search's, closes the connection, whose stream can no longer be
// trusted.
func (c *Conn) Search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	if c.IsClosing() {
		return nil, ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))
	}
	filter, err := ldap.CompileFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	if err := c.nextID(); err != nil {
		return nil, err
	}
	res := &ldap.SearchResult{Entries: []*ldap.Entry{}, Referrals: []string{}, Controls: []ldap.Control{}}
	raw, err := c.roundTrip(encodeSearch(c.msgID, req, filter))
	if err != nil {
		return res, err
	}
	for first := true; ; first = false {
		packet, err := c.decode(raw, first)
		if err != nil {
			return res, err
		}
		op := packet.Children[1]
		if op.ClassType != ber.ClassApplication {
			return res, c.fail(fmt.Errorf("ldap: search answered with %s", opName(op)))
		}
		switch op.Tag {
		case tagSearchResultEntry:
			e, err := unpackEntry(op)
			if err != nil {
				return res, c.fail(err)
			}
			res.Entries = append(res.Entries, e)
		case tagSearchResultReference:
			if len(op.Children) == 0 {
				return res, c.fail(errors.New("ldap: malformed search result reference"))
			}
			ref, ok := op.Children[0].Value.(string)
			if !ok {
				return res, c.fail(errors.New("ldap: malformed search result reference"))
			}
			res.Referrals = append(res.Referrals, ref)
		case tagIntermediateResponse:
			// Nothing this client asked for; skipped as go-ldap does.
		case tagSearchResultDone:
			return res, c.searchDone(packet, res)
		default:
			return res, c.fail(fmt.Errorf("ldap: search answered with %s", opName(op)))
		}
		// A read that fails mid-search (a timeout, a reset) is the
		// answer: the connection is closed and the error says why.
		if raw, err = c.readMore(); err != nil {
			return res, err
		}
	}
}

// searchDone reads a search's final answer, SearchResultDone, into res:
// its result code as an error, its controls.
func (c *Conn) searchDone(packet *ber.Packet, res *ldap.SearchResult) error {
	if err := c.checkOp(packet, tagSearchResultDone); err != nil {
		return err
	}
	c.finish()
	if err := ldap.GetLDAPError(packet); err != nil {
		return err
	}
	if len(packet.Children) > 2 {
		for _, child := range packet.Children[2].Children {
			ctl, err := ldap.DecodeControl(child)
			if err != nil {
				return c.fail(fmt.Errorf("failed to decode child control: %w", err))
			}
			res.Controls = append(res.Controls, ctl)
		}
	}
	return nil
}

// encodeSearch returns the LDAPMessage of req with message ID id and the
// compiled filter.
func encodeSearch(id int64, req *ldap.SearchRequest, filter *ber.Packet) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "Search Request")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, req.BaseDN, "Base DN"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.Scope), "Scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.DerefAliases), "Deref Aliases"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(req.SizeLimit), "Size Limit"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(req.TimeLimit), "Time Limit"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, req.TypesOnly, "Types Only"))
	op.AppendChild(filter)
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range req.Attributes {
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
	}
	op.AppendChild(attrs)
	envelope := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	envelope.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	envelope.AppendChild(op)
	if len(req.Controls) > 0 {
		envelope.AppendChild(controlsPacket(req.Controls))
	}
	return envelope.Bytes()
}

// unpackEntry reads a SearchResultEntry as go-ldap does.
func unpackEntry(op *ber.Packet) (*ldap.Entry, error) {
	if len(op.Children) < 2 {
		return nil, errors.New("ldap: malformed search result entry")
	}
	dn, ok := op.Children[0].Value.(string)
	if !ok {
		return nil, errors.New("ldap: malformed search result entry: DN is not a string")
	}
	e := &ldap.Entry{DN: dn, Attributes: make([]*ldap.EntryAttribute, 0, len(op.Children[1].Children))}
	for _, a := range op.Children[1].Children {
		if a == nil || len(a.Children) < 2 {
			return nil, errors.New("ldap: malformed attribute")
		}
		name, ok := a.Children[0].Value.(string)
		if !ok {
			return nil, errors.New("ldap: malformed attribute: type is not a string")
		}
		vals := a.Children[1].Children
		ea := &ldap.EntryAttribute{Name: name, Values: make([]string, len(vals)), ByteValues: make([][]byte, len(vals))}
		for i, v := range vals {
			s, ok := v.Value.(string)
			if !ok {
				return nil, fmt.Errorf("ldap: malformed attribute %q: value is not a string", name)
			}
			ea.Values[i], ea.ByteValues[i] = s, v.ByteValue
		}
		e.Attributes = append(e.Attributes, ea)
	}
	return e, nil
}
