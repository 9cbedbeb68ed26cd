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

// bindConn is a connection of the bind pool: it carries one operation at
// a time (a user bind, or StartTLS when it opens), written and read on
// the caller's goroutine. go-ldap's Conn suits the search pool, but for
// a bind it costs a message-ID channel round trip, two hand-offs to its
// dispatcher goroutine and one from its reader, a goroutine and a timer
// for the request timeout and a context timer for the response: most of
// the CPU a warm DN cache leaves to a login. Timeouts are socket
// deadlines here, and any error but an LDAP result closes the connection,
// as go-ldap's do once the pool sees them.
type bindConn struct {
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

// maxBindResponse bounds a response the bind pool reads: a bind result
// with a diagnostic message and a few controls is well under a kilobyte.
const maxBindResponse = 64 << 10

// LDAP protocol numbers a bindConn uses (RFC 4511, RFC 4513 §3).
const (
	oidStartTLS             = "1.3.6.1.4.1.1466.20037"
	ldapVersion             = 3
	tagExtendedRequestName  = 0
	tagSimpleAuthentication = 0
	tagControls             = 0
)

func newBindConn(nc net.Conn) *bindConn {
	return &bindConn{nc: nc, r: bufio.NewReaderSize(nc, 1024)}
}

// SetTimeout bounds each following operation, as ldap.Conn's does.
func (c *bindConn) SetTimeout(d time.Duration) { c.timeout = d }

// Close closes the connection; an operation in progress returns at once.
func (c *bindConn) Close() error {
	c.closing.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc.Close()
}

// IsClosing reports whether Close was called or an operation failed.
func (c *bindConn) IsClosing() bool { return c.closing.Load() }

// bind performs a simple bind with controls and returns what go-ldap's
// SimpleBind returns: the response controls, and an *ldap.Error for a
// result other than success.
func (c *bindConn) bind(dn, password string, controls []ldap.Control) (*ldap.SimpleBindResult, error) {
	if password == "" {
		// An empty password is an unauthenticated bind, which succeeds.
		return nil, ldap.NewError(ldap.ErrorEmptyPassword, errors.New("ldap: empty password not allowed by the client"))
	}
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "Bind Request")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, ldapVersion, "Version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "User Name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, tagSimpleAuthentication, password, "Password"))
	packet, err := c.roundTrip(op, controls)
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
func (c *bindConn) startTLS(ctx context.Context, conf *tls.Config) error {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, tagExtendedRequestName, oidStartTLS, "TLS Extended Command"))
	packet, err := c.roundTrip(op, nil)
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

// roundTrip sends op with controls under the next message ID and reads
// the response to it, within the timeout. A connection error, a timeout
// or a response that is not the answer closes the connection.
func (c *bindConn) roundTrip(op *ber.Packet, controls []ldap.Control) (*ber.Packet, error) {
	if c.IsClosing() {
		return nil, ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))
	}
	c.msgID++
	envelope := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	envelope.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, c.msgID, "MessageID"))
	envelope.AppendChild(op)
	if len(controls) > 0 {
		ctls := ber.Encode(ber.ClassContext, ber.TypeConstructed, tagControls, nil, "Controls")
		for _, ctl := range controls {
			ctls.AppendChild(ctl.Encode())
		}
		envelope.AppendChild(ctls)
	}
	var deadline time.Time
	if c.timeout > 0 {
		deadline = time.Now().Add(c.timeout)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, c.fail(err)
	}
	if _, err := c.nc.Write(envelope.Bytes()); err != nil {
		return nil, c.fail(fmt.Errorf("unable to send request: %w", err))
	}
	packet, err := c.read()
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
func (c *bindConn) fail(err error) error {
	c.Close()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		err = errors.New("ldap: connection timed out")
	}
	return ldap.NewError(ldap.ErrorNetwork, err)
}

// read reads one LDAPMessage: its BER header (a SEQUENCE and its
// definite length), then the whole message at once, which the BER
// decoder would otherwise read a byte at a time.
func (c *bindConn) read() (*ber.Packet, error) {
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
		if k == 0 || k > 3 {
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
	if n > maxBindResponse {
		return nil, fmt.Errorf("ldap: response of %d bytes, more than %d", n, maxBindResponse)
	}
	buf := make([]byte, hl+n)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	return ber.DecodePacketErr(buf)
}
