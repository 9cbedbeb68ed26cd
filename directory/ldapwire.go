package directory

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// conn is a connection of either pool: it carries one operation at a
// time (a search or a bind, and StartTLS when it opens), written and read
// on the caller's goroutine. go-ldap's Conn serves concurrent operations,
// which the pools never make: it routes each through its dispatcher
// goroutine four times (message ID, request, response, finish), starts a
// goroutine and a timer for the request timeout and a context timer for
// each response, and decodes a byte at a time; with a warm DN cache that
// was most of the CPU a login cost. Timeouts are socket deadlines here,
// and any error but an LDAP result closes the connection, as the pools
// did with go-ldap's. Requests and results are go-ldap's types, and
// answers are read by go-ldap's GetLDAPError and DecodeControl.
type conn struct {
	// nc is written by startTLS under mu, which Close takes, since
	// withTimeout may close the connection from another goroutine;
	// operations read it without.
	mu      sync.Mutex
	nc      net.Conn
	r       *bufio.Reader
	timeout time.Duration // of the next operation; 0: none
	msgID   int64
	closing atomic.Bool
}

// maxResponse bounds one LDAP message read, against a server that
// announces a length nothing it could send would need.
const maxResponse = 16 << 20

// LDAP protocol numbers a conn uses (RFC 4511, RFC 4513 §3).
const (
	oidStartTLS             = "1.3.6.1.4.1.1466.20037"
	ldapVersion             = 3
	tagExtendedRequestName  = 0
	tagSimpleAuthentication = 0
	tagControls             = 0
)

func newConn(nc net.Conn) *conn {
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 1024)}
}

// SetTimeout bounds each following operation, as ldap.Conn's does.
func (c *conn) SetTimeout(d time.Duration) { c.timeout = d }

// Close closes the connection; an operation in progress returns at once.
func (c *conn) Close() error {
	c.closing.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc.Close()
}

// IsClosing reports whether Close was called or an operation failed.
func (c *conn) IsClosing() bool { return c.closing.Load() }

// bind performs a simple bind with controls, encoded by encodeControls,
// and returns what go-ldap's SimpleBind returns: the response controls,
// and an *ldap.Error for a result other than success.
func (c *conn) bind(dn, password string, controls []byte) (*ldap.SimpleBindResult, error) {
	if password == "" {
		// An empty password is an unauthenticated bind, which succeeds.
		return nil, ldap.NewError(ldap.ErrorEmptyPassword, errors.New("ldap: empty password not allowed by the client"))
	}
	if c.IsClosing() {
		return nil, ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))
	}
	c.msgID++
	raw, err := c.roundTrip(encodeBind(c.msgID, dn, password, controls))
	if err != nil {
		return nil, err
	}
	if isBindSuccess(raw, c.msgID) {
		return &ldap.SimpleBindResult{Controls: []ldap.Control{}}, nil
	}
	packet, err := c.decode(raw)
	if err != nil {
		return nil, err
	}
	res := &ldap.SimpleBindResult{Controls: []ldap.Control{}}
	if len(packet.Children) > 2 {
		for _, child := range packet.Children[2].Children {
			ctl, err := ldap.DecodeControl(child)
			if err != nil {
				c.Close()
				return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("failed to decode child control: %w", err))
			}
			res.Controls = append(res.Controls, ctl)
		}
	}
	return res, ldap.GetLDAPError(packet)
}

// startTLS upgrades the connection (RFC 4511 §4.14) and checks the
// server's certificate against conf; ctx bounds the handshake.
func (c *conn) startTLS(ctx context.Context, conf *tls.Config) error {
	if c.IsClosing() {
		return ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))
	}
	c.msgID++
	envelope := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	envelope.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, c.msgID, "MessageID"))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, tagExtendedRequestName, oidStartTLS, "TLS Extended Command"))
	envelope.AppendChild(op)
	raw, err := c.roundTrip(envelope.Bytes())
	if err != nil {
		return err
	}
	packet, err := c.decode(raw)
	if err != nil {
		return err
	}
	if err := ldap.GetLDAPError(packet); err != nil {
		return err
	}
	if c.r.Buffered() > 0 {
		c.Close()
		return ldap.NewError(ldap.ErrorUnexpectedResponse, errors.New("ldap: data after the StartTLS response"))
	}
	tc := tls.Client(c.nc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("TLS handshake failed (%w)", err))
	}
	c.mu.Lock()
	c.nc, c.r = tc, bufio.NewReaderSize(tc, 1024)
	c.mu.Unlock()
	return nil
}

// roundTrip sends the request req, which carries message ID c.msgID,
// and reads the raw response, within the timeout. A connection error or
// a timeout closes the connection.
func (c *conn) roundTrip(req []byte) ([]byte, error) {
	var deadline time.Time
	if c.timeout > 0 {
		deadline = time.Now().Add(c.timeout)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, c.fail(err)
	}
	if _, err := c.nc.Write(req); err != nil {
		return nil, c.fail(fmt.Errorf("unable to send request: %w", err))
	}
	raw, err := c.read()
	if err != nil {
		return nil, c.fail(err)
	}
	return raw, nil
}

// readMore reads the next response of a request that has several (a
// search), within the deadline roundTrip set.
func (c *conn) readMore() ([]byte, error) {
	raw, err := c.read()
	if err != nil {
		return nil, c.fail(err)
	}
	return raw, nil
}

// decode decodes a response read by roundTrip and checks that it answers
// message c.msgID; anything else closes the connection.
func (c *conn) decode(raw []byte) (*ber.Packet, error) {
	packet, err := ber.DecodePacketErr(raw)
	if err != nil {
		return nil, c.fail(err)
	}
	if len(packet.Children) < 2 {
		return nil, c.fail(errors.New("ldap: malformed response"))
	}
	if id, ok := packet.Children[0].Value.(int64); !ok || id != c.msgID {
		// A Notice of Disconnection (message ID 0) or a stray answer.
		return nil, c.fail(fmt.Errorf("ldap: response to message %v, want %d", packet.Children[0].Value, c.msgID))
	}
	return packet, nil
}

// fail closes the connection and reports err as go-ldap reports
// connection failures, timeouts included.
func (c *conn) fail(err error) error {
	c.Close()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		err = errors.New("ldap: connection timed out")
	}
	return ldap.NewError(ldap.ErrorNetwork, err)
}

// read reads one LDAPMessage: its BER header (a SEQUENCE and its
// definite length), then the whole message at once, which the BER
// decoder would otherwise read a byte at a time.
func (c *conn) read() ([]byte, error) {
	hdr, err := c.r.Peek(2)
	if err != nil {
		return nil, err
	}
	if hdr[0] != 0x30 {
		return nil, fmt.Errorf("ldap: response starts with tag %#x, want a SEQUENCE", hdr[0])
	}
	n, hl := int(hdr[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return nil, fmt.Errorf("ldap: response length of %d octets", k)
		}
		if hdr, err = c.r.Peek(2 + k); err != nil {
			return nil, err
		}
		n = 0
		for _, b := range hdr[2:] {
			n = n<<8 | int(b)
		}
		hl += k
	}
	if n > maxResponse {
		return nil, fmt.Errorf("ldap: response of %d bytes, more than %d", n, maxResponse)
	}
	buf := make([]byte, hl+n)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// The request and the commonest response of a bind are written and
// recognised here byte by byte, not through asn1-ber's packet trees,
// which cost more allocations than the rest of a login. BER below is
// DER-shaped, as every LDAP implementation writes it (RFC 4511 §5.1).

// encodeControls returns the encoded Controls element ([0] SEQUENCE OF
// Control) of a request, or nil for none. The LDAP backend encodes its
// bind controls once.
func encodeControls(controls []ldap.Control) []byte {
	if len(controls) == 0 {
		return nil
	}
	return controlsPacket(controls).Bytes()
}

// controlsPacket returns the Controls element of a request.
func controlsPacket(controls []ldap.Control) *ber.Packet {
	p := ber.Encode(ber.ClassContext, ber.TypeConstructed, tagControls, nil, "Controls")
	for _, ctl := range controls {
		p.AppendChild(ctl.Encode())
	}
	return p
}

// encodeBind returns the LDAPMessage of a simple BindRequest (version 3)
// with message ID id and the encoded controls.
func encodeBind(id int64, dn, password string, controls []byte) []byte {
	opLen := 3 + berTLVLen(len(dn)) + berTLVLen(len(password)) // version: 02 01 03
	idLen := berIntLen(id)
	msgLen := berTLVLen(idLen) + berTLVLen(opLen) + len(controls)
	b := make([]byte, 0, berTLVLen(msgLen))
	b = appendBERHeader(b, 0x30, msgLen) // SEQUENCE
	b = appendBERHeader(b, 0x02, idLen)  // INTEGER messageID
	for i := idLen - 1; i >= 0; i-- {
		b = append(b, byte(id>>(8*i)))
	}
	b = appendBERHeader(b, 0x60, opLen) // [APPLICATION 0] BindRequest
	b = append(b, 0x02, 0x01, ldapVersion)
	b = appendBERHeader(b, 0x04, len(dn)) // LDAPDN
	b = append(b, dn...)
	b = appendBERHeader(b, 0x80, len(password)) // [0] simple
	b = append(b, password...)
	return append(b, controls...)
}

// isBindSuccess reports whether raw is exactly a BindResponse to message
// id with resultCode success, empty matchedDN and diagnosticMessage, and
// no controls or server SASL credentials: the answer to a right password
// where no password policy has anything to say. Anything else is decoded
// in full.
func isBindSuccess(raw []byte, id int64) bool {
	idLen := berIntLen(id)
	want := 2 + 2 + idLen + 9 // SEQUENCE, messageID, then the 9 bytes below
	if len(raw) != want || raw[0] != 0x30 || int(raw[1]) != want-2 ||
		raw[2] != 0x02 || int(raw[3]) != idLen {
		return false
	}
	for i := range idLen {
		if raw[4+i] != byte(id>>(8*(idLen-1-i))) {
			return false
		}
	}
	rest := raw[4+idLen:]
	// [APPLICATION 1] { ENUMERATED 0, OCTET STRING "", OCTET STRING "" }
	return string(rest) == "\x61\x07\x0a\x01\x00\x04\x00\x04\x00"
}

// berIntLen is the length of the minimal two's complement encoding of a
// positive id, as an INTEGER's contents.
func berIntLen(id int64) int {
	n := 1
	for id >= 0x80 {
		id >>= 8
		n++
	}
	return n
}

// berTLVLen is the encoded length of an element whose contents are n
// bytes long.
func berTLVLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n <= 0xff:
		return 3 + n
	case n <= 0xffff:
		return 4 + n
	default:
		return 5 + n
	}
}

// appendBERHeader appends an identifier octet and a definite length.
func appendBERHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	default:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}
