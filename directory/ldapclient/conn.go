package ldapclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Conn is a connection to a directory server, opened by a Dialer and
// kept in a Pool (the LDAP backend has one for searches, one for user
// binds). It carries one operation at a time (a search or a bind, and
// StartTLS when it opens), written and read on the caller's goroutine.
// go-ldap's Conn serves concurrent operations, which the pools never
// make: it routes each through its dispatcher
// goroutine four times (message ID, request, response, finish), starts a
// goroutine and a timer for the request timeout and a context timer for
// each response, and decodes a byte at a time; with a warm DN cache that
// was most of the CPU a login cost. Timeouts are socket deadlines here,
// and any error but an LDAP result closes the connection, as the pools
// did with go-ldap's. Requests and results are go-ldap's types, and
// answers are read by go-ldap's GetLDAPError and DecodeControl.
//
// A connection found dead before the server could act on a request is
// reported with errStale, on which Pool.Do retries; any other failure
// may come after the server acted (a bind counted against a password
// policy), and is not retried.
type Conn struct {
	// nc is written by startTLS under mu, which Close takes, since
	// WithTimeout may close the connection from another goroutine;
	// operations read it without.
	mu      sync.Mutex
	nc      net.Conn
	r       *bufio.Reader
	timeout time.Duration // of the next operation; 0: none
	msgID   int64
	closing atomic.Bool
	// server is the server c is connected to, whose Health the pools
	// note; nil for a connection made without a Dialer (tests).
	server *Server
}

// maxResponse bounds one LDAP message read, against a server that
// announces a length nothing it could send would need.
const maxResponse = 16 << 20

// maxBindField bounds a bind's DN and password: no directory has names
// or passwords that long, and refusing them keeps a request's length
// within what a Conn encodes.
const maxBindField = 64 << 10

// errStale reports a connection that was dead before the server could
// act on the request: the request could not be written, the connection
// was closed or reset before a byte of the answer, or the server sent a
// Notice of Disconnection in its place. Such a request is safe to send
// again on another connection; after any other failure (a timeout, a
// malformed or partial answer) the server may have acted on it.
var errStale = errors.New("ldap: connection closed before the server answered")

// stale marks err as errStale.
func stale(err error) error { return fmt.Errorf("%w: %w", errStale, err) }

// LDAP protocol numbers a Conn uses (RFC 4511, RFC 4513 §3).
const (
	oidStartTLS             = "1.3.6.1.4.1.1466.20037"
	ldapVersion             = 3
	tagExtendedRequestName  = 0
	tagSimpleAuthentication = 0
	tagControls             = 0
)

func newConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, r: bufio.NewReaderSize(nc, 1024)}
}

// SetTimeout bounds each following operation, as ldap.Conn's does.
func (c *Conn) SetTimeout(d time.Duration) { c.timeout = d }

// Close closes the connection; an operation in progress returns at once.
func (c *Conn) Close() error {
	c.closing.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc.Close()
}

// TLSState returns the state of the connection's TLS (ldaps:// or after
// StartTLS); ok is false on a connection in clear.
func (c *Conn) TLSState() (state tls.ConnectionState, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc, isTLS := c.nc.(*tls.Conn); isTLS {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// IsClosing reports whether Close was called or an operation failed.
func (c *Conn) IsClosing() bool { return c.closing.Load() }

// Bind performs a simple bind with controls, encoded by EncodeControls,
// and returns what go-ldap's SimpleBind returns: the response controls,
// and an *ldap.Error for a result other than success. It refuses an
// empty DN, and a DN or password over maxBindField, without sending.
func (c *Conn) Bind(dn, password string, controls []byte) (*ldap.SimpleBindResult, error) {
	if password == "" {
		// An empty password is an unauthenticated bind, which succeeds.
		return nil, ldap.NewError(ldap.ErrorEmptyPassword, errors.New("ldap: empty password not allowed by the client"))
	}
	if dn == "" {
		// Some servers take an empty name with a password as anonymous.
		return nil, errors.New("ldap: empty bind DN")
	}
	if len(dn) > maxBindField || len(password) > maxBindField {
		return nil, fmt.Errorf("ldap: bind DN of %d bytes or password of %d, more than %d", len(dn), len(password), maxBindField)
	}
	if err := c.nextID(); err != nil {
		return nil, err
	}
	raw, err := c.roundTrip(encodeBind(c.msgID, dn, password, controls))
	if err != nil {
		return nil, err
	}
	if isBindSuccess(raw, c.msgID) {
		c.finish()
		return &ldap.SimpleBindResult{Controls: []ldap.Control{}}, nil
	}
	packet, err := c.decode(raw, true)
	if err != nil {
		return nil, err
	}
	if err := c.checkOp(packet, ldap.ApplicationBindResponse); err != nil {
		return nil, err
	}
	c.finish()
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
func (c *Conn) startTLS(ctx context.Context, conf *tls.Config) error {
	if err := c.nextID(); err != nil {
		return err
	}
	envelope := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	envelope.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, c.msgID, "MessageID"))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, tagExtendedRequestName, oidStartTLS, "TLS Extended Command"))
	envelope.AppendChild(op)
	raw, err := c.roundTrip(envelope.Bytes())
	if err != nil {
		return err
	}
	packet, err := c.decode(raw, true)
	if err != nil {
		return err
	}
	if err := c.checkOp(packet, ldap.ApplicationExtendedResponse); err != nil {
		return err
	}
	if err := ldap.GetLDAPError(packet); err != nil {
		return err
	}
	if c.r.Buffered() > 0 {
		// TLS must start right after the response: bytes already read
		// would be taken as plaintext the server sent.
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

// nextID takes the message ID of the next request. Message IDs are
// positive 32-bit integers (RFC 4511 §4.1.1): when they run out the
// connection is closed, reported as errStale since nothing was sent.
func (c *Conn) nextID() error {
	if c.IsClosing() {
		return ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))
	}
	if c.msgID >= math.MaxInt32 {
		return c.fail(stale(errors.New("ldap: message IDs used up")))
	}
	c.msgID++
	return nil
}

// finish ends an operation after its final response: one operation at a
// time leaves nothing else to read, so bytes already buffered are an
// answer to nothing, and the connection is closed rather than reused.
func (c *Conn) finish() {
	if c.r.Buffered() > 0 {
		c.Close()
	}
}

// roundTrip sends the request req, which carries message ID c.msgID,
// and reads the raw response, within the timeout. A connection error or
// a timeout closes the connection; a failed write, or a connection
// closed or reset before a byte of the answer, is errStale.
func (c *Conn) roundTrip(req []byte) ([]byte, error) {
	var deadline time.Time
	if c.timeout > 0 {
		deadline = time.Now().Add(c.timeout)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, c.fail(err)
	}
	if _, err := c.nc.Write(req); err != nil {
		err = fmt.Errorf("unable to send request: %w", err)
		if !isTimeout(err) && !c.IsClosing() {
			err = stale(err)
		}
		return nil, c.fail(err)
	}
	raw, err := c.read()
	if err != nil {
		if c.r.Buffered() == 0 && !c.IsClosing() &&
			(err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
			err = stale(err)
		}
		return nil, c.fail(err)
	}
	return raw, nil
}

// readMore reads the next response of a request that has several (a
// search), within the deadline roundTrip set.
func (c *Conn) readMore() ([]byte, error) {
	raw, err := c.read()
	if err != nil {
		return nil, c.fail(err)
	}
	return raw, nil
}

// decode decodes a response read by roundTrip and checks that it answers
// message c.msgID; anything else closes the connection. first is set
// for the first response to the request, which a Notice of
// Disconnection replaces when the server hung up before acting on it.
func (c *Conn) decode(raw []byte, first bool) (*ber.Packet, error) {
	packet, err := ber.DecodePacketErr(raw)
	if err != nil {
		return nil, c.fail(err)
	}
	if len(packet.Children) < 2 {
		return nil, c.fail(errors.New("ldap: malformed response"))
	}
	if id, ok := packet.Children[0].Value.(int64); !ok || id != c.msgID {
		// A Notice of Disconnection (message ID 0) or a stray answer.
		err := fmt.Errorf("ldap: response to message %v, want %d", packet.Children[0].Value, c.msgID)
		if ok && id == 0 && first {
			err = stale(err)
		}
		return nil, c.fail(err)
	}
	return packet, nil
}

// checkOp checks that packet's protocol operation is an LDAPResult of
// the application tag want (a BindResponse, say); anything else closes
// the connection.
func (c *Conn) checkOp(packet *ber.Packet, want ber.Tag) error {
	op := packet.Children[1]
	if op.ClassType != ber.ClassApplication || op.TagType != ber.TypeConstructed || op.Tag != want {
		return c.fail(fmt.Errorf("ldap: answered with %s, want %s", opName(op), ldap.ApplicationMap[uint8(want)]))
	}
	if len(op.Children) < 3 {
		return c.fail(fmt.Errorf("ldap: malformed %s", ldap.ApplicationMap[uint8(want)]))
	}
	return nil
}

// opName names a protocol operation for errors.
func opName(op *ber.Packet) string {
	if op.ClassType == ber.ClassApplication {
		if name, ok := ldap.ApplicationMap[uint8(op.Tag)]; ok {
			return name
		}
	}
	return fmt.Sprintf("class %#x tag %d", op.ClassType, op.Tag)
}

// fail closes the connection and reports err as go-ldap reports
// connection failures, timeouts included.
func (c *Conn) fail(err error) error {
	c.Close()
	if isTimeout(err) {
		err = ErrTimeout
	}
	return ldap.NewError(ldap.ErrorNetwork, err)
}

// ErrTimeout is wrapped by the error of an operation the server did not
// answer within its timeout.
var ErrTimeout = errors.New("ldap: connection timed out")

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// read reads one LDAPMessage: its BER header (a SEQUENCE and its
// definite length), then the whole message at once, which the BER
// decoder would otherwise read a byte at a time.
func (c *Conn) read() ([]byte, error) {
	hdr, err := c.r.Peek(2)
	if err != nil {
		return nil, err
	}
	if hdr[0] != 0x30 {
		return nil, fmt.Errorf("ldap: response starts with tag %#x, want a SEQUENCE", hdr[0])
	}
	// Counted in uint64: four length octets overflow a 32-bit int.
	n, hl := uint64(hdr[1]), 2
	if n&0x80 != 0 {
		k := int(n & 0x7f)
		if k == 0 || k > 4 {
			return nil, fmt.Errorf("ldap: response length of %d octets", k)
		}
		if hdr, err = c.r.Peek(2 + k); err != nil {
			return nil, err
		}
		n = 0
		for _, b := range hdr[2:] {
			n = n<<8 | uint64(b)
		}
		hl += k
	}
	if n > maxResponse {
		return nil, fmt.Errorf("ldap: response of %d bytes, more than %d", n, maxResponse)
	}
	buf := make([]byte, hl+int(n))
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// The request and the commonest response of a bind are written and
// recognised here byte by byte, not through asn1-ber's packet trees,
// which cost more allocations than the rest of a login. BER below is
// DER-shaped, as every LDAP implementation writes it (RFC 4511 §5.1).

// EncodeControls returns the encoded Controls element ([0] SEQUENCE OF
// Control) of a request, or nil for none. The LDAP backend encodes its
// bind controls once.
func EncodeControls(controls []ldap.Control) []byte {
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
	case n <= 0xffffff:
		return 5 + n
	default:
		return 6 + n
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
	case n <= 0xffffff:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}
