package radiusd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/loglimit"
	"twostep/trace"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("radiusd: server closed")

// Authenticator decides a login and answers it through w, before it
// returns or, for a login that waits for the user's device, later (as a
// layeh/radius Handler answers through its ResponseWriter);
// challenge.Engine implements it. A rejected user is a Decision; an error
// means the decision could not be taken, and the server answers it with
// an Access-Reject. ctx ends once w is answered.
type Authenticator interface {
	Authenticate(ctx context.Context, req *challenge.Request, w challenge.Responder)
}

// Recorder keeps the login history (package history's Recorder): Record
// takes the record of a request whose answer was just sent, and must
// never block, for the request's worker and the next answers wait on it.
type Recorder interface {
	Record(r cluster.LoginRecord)
}

// Tracer is `twostepctl trace`'s part in the server (package trace's
// Tracing): Begin returns the tracer of a request, or nil when nobody is
// traced, as it must be cheap to ask for every request (traceside.go).
type Tracer interface {
	Begin(id, user string) *trace.Request
}

// The engine is what cmd/twostepd wires in.
var _ Authenticator = (*challenge.Engine)(nil)

// Options configure a Server. Authenticator and Clients are required.
type Options struct {
	// Config is the radius section of the configuration: workers, the
	// duplicate cache, the reject delay and the dictionaries (Listen is
	// for ListenGroup). NewServer refuses what Config.Validate refuses.
	Config
	// Authenticator decides every PAP Access-Request.
	Authenticator Authenticator
	// Clients is the initial client table; SetClients replaces it.
	Clients *ClientTable
	// Logger receives one line per request. The zero value discards.
	Logger zerolog.Logger
	// Metrics receives the counters. Default: collectors on a private
	// registry, so nothing global is touched.
	Metrics *Metrics
	// Ready says whether the node can serve; Status-Server is answered only
	// while it returns true. Default: always ready.
	Ready func() bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Dictionary encodes the reply attributes of a Decision. Default: the
	// built-in attributes only.
	Dictionary *Dictionary
	// MessageAuthenticators remembers which clients have sent a
	// Message-Authenticator, for those whose requirement is MAAuto, so
	// that every node of a cluster holds them to it. Default: this
	// process remembers alone.
	MessageAuthenticators MAMemory
	// History takes the record of every request answered, after the
	// answer is sent: the login history. Default: none kept.
	History Recorder
	// Trace follows the requests of the users `twostepctl trace` asks
	// for. Default: none traced.
	Trace Tracer
	// ReferenceInReply ends an Access-Reject's Reply-Message with the
	// login's reference ("Ref 3f9a-c21b", cluster.LoginReference), for
	// the help desk to look up in the history; only with History.
	ReferenceInReply bool

	// afterFunc replaces time.AfterFunc in tests.
	afterFunc func(time.Duration, func())
}

// decideTimeout bounds one call of the Authenticator; no NAS waits
// longer than this for an answer (a push waits what the client declares
// it waits, less a margin).
const decideTimeout = challenge.MaxNASWait

// Server answers RADIUS authentication over UDP. Create it with NewServer;
// its lifecycle follows net/http: Serve or ListenAndServe, then Shutdown.
type Server struct {
	dict    *Dictionary
	auth    Authenticator
	log     zerolog.Logger
	metrics *Metrics
	ready   func() bool
	now     func() time.Time
	// rejectDelay and after hold Access-Rejects back; after is
	// time.AfterFunc, replaced in tests.
	rejectDelay time.Duration
	after       func(time.Duration, func())

	clients atomic.Pointer[ClientTable]
	cache   *dedupCache
	limit   *limiter
	drops   *loglimit.Limiter
	ma      *maAuto
	// history takes each answered request's record; nil: none kept.
	// reference puts the login's reference in Rejects.
	history   Recorder
	reference bool
	// tracer follows traced users' requests; nil: none.
	tracer Tracer

	// base is the parent of every request context. It is the server's
	// lifetime, not a request's, which is why it may live in a struct:
	// Shutdown cancels it when its own deadline passes, so Authenticators
	// stop working for a server that is gone.
	base  context.Context
	abort context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[*listener]struct{}
	nextID    uint32
	ids       map[string]uint32 // local address -> duplicate-key id, shared by a SO_REUSEPORT group
	serving   sync.WaitGroup    // one per running Serve
}

// listener is one socket being served.
type listener struct {
	id       uint32 // part of the duplicate key
	conn     net.PacketConn
	pi       *pktinfo       // set on a wildcard socket: answers leave from the address asked
	handlers sync.WaitGroup // requests of this socket being decided
}

// NewServer checks o, fills in its defaults and returns a Server that
// serves nothing until Serve or ListenAndServe is called.
func NewServer(o Options) (*Server, error) {
	var errs []error
	if o.Authenticator == nil {
		errs = append(errs, errors.New("radiusd: no Authenticator"))
	}
	if o.Clients == nil {
		errs = append(errs, errors.New("radiusd: no client table"))
	}
	if err := o.Config.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("radiusd: %w", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	o.Config = o.Config.WithDefaults()
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.afterFunc == nil {
		o.afterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	if o.Dictionary == nil {
		d, err := NewDictionary(o.Dictionaries...)
		if err != nil {
			return nil, err
		}
		o.Dictionary = d
	}
	s := &Server{
		dict:        o.Dictionary,
		auth:        o.Authenticator,
		log:         o.Logger,
		metrics:     o.Metrics,
		ready:       o.Ready,
		now:         o.Now,
		rejectDelay: o.RejectDelay,
		after:       o.afterFunc,
		cache:       newDedupCache(o.DuplicateTTL),
		limit:       newLimiter(o.Workers),
		listeners:   make(map[*listener]struct{}),
		ids:         make(map[string]uint32),
		drops:       loglimit.New(o.Now),
		ma:          &maAuto{store: o.MessageAuthenticators, now: o.Now},
		history:     o.History,
		reference:   o.ReferenceInReply && o.History != nil,
		tracer:      o.Trace,
	}
	s.base, s.abort = context.WithCancel(context.Background())
	s.clients.Store(o.Clients)
	return s, nil
}

// SetClients replaces the client table atomically (a SIGHUP reload). No
// packet is lost: the sockets stay open, and requests already accepted keep
// the client, and so the secret, they started with. A nil table drops
// every packet.
func (s *Server) SetClients(t *ClientTable) {
	s.clients.Store(t)
}

// Serve reads requests from conn until Shutdown or a read error, answers
// them, and closes conn. After Shutdown it returns ErrServerClosed once
// the requests read from conn have been answered (or Shutdown gave up).
func (s *Server) Serve(conn net.PacketConn) error {
	l, err := s.track(conn)
	if err != nil {
		conn.Close()
		return err
	}
	defer s.serving.Done()
	err = s.readLoop(l)
	l.handlers.Wait() // their answers still need the socket
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
	conn.Close()
	return err
}

// Addrs returns the local addresses of the sockets being served, in no
// particular order: with port 0, the ports the system chose.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]net.Addr, 0, len(s.listeners))
	for l := range s.listeners {
		addrs = append(addrs, l.conn.LocalAddr())
	}
	return addrs
}

// track registers conn, or refuses it after Shutdown.
func (s *Server) track(conn net.PacketConn) (*listener, error) {
	pi, err := newPktinfo(conn)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	// Sockets of one SO_REUSEPORT group share an address and so a
	// duplicate-key id: a retransmission is recognised whichever of them
	// the kernel hands it to.
	local := conn.LocalAddr().String()
	id, ok := s.ids[local]
	if !ok {
		s.nextID++
		id = s.nextID
		s.ids[local] = id
	}
	l := &listener{id: id, conn: conn, pi: pi}
	s.listeners[l] = struct{}{}
	s.serving.Add(1)
	return l, nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// readLoop reads datagrams and hands each to handlePacket, which never
// blocks on a decision.
func (s *Server) readLoop(l *listener) error {
	buf := make([]byte, maxPacket+1) // one more, to see oversized datagrams
	var backoff time.Duration
	for {
		var (
			n   int
			src netip.AddrPort
			dst netip.Addr // the address asked, on a wildcard socket
			err error
		)
		if l.pi != nil {
			n, src, dst, err = l.pi.read(buf)
		} else {
			n, src, err = readFrom(l.conn, buf)
		}
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("radiusd: read %s: %w", l.conn.LocalAddr(), err)
			}
			// A passing error (ENOBUFS, an ICMP error reported on the
			// socket) must not take the listener down: count it, pause
			// briefly so a persistent one cannot spin, and read on.
			s.drop(causeReadError, netip.AddrPort{}, "")
			backoff = min(max(2*backoff, time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.handlePacket(l, buf[:n], src, dst)
	}
}

// readFrom reads one datagram, without allocating on a *net.UDPConn.
func readFrom(c net.PacketConn, b []byte) (int, netip.AddrPort, error) {
	if u, ok := c.(*net.UDPConn); ok {
		return u.ReadFromUDPAddrPort(b)
	}
	n, a, err := c.ReadFrom(b)
	if err != nil {
		return n, netip.AddrPort{}, err
	}
	ua, _ := a.(*net.UDPAddr) // anything else has no valid address and matches no client
	if ua == nil {
		return n, netip.AddrPort{}, nil
	}
	return n, ua.AddrPort(), nil
}

// send writes one answer to to, from the address from on a wildcard
// socket.
func (l *listener) send(b []byte, to netip.AddrPort, from netip.Addr) error {
	if l.pi != nil {
		return l.pi.send(b, to, from)
	}
	if u, ok := l.conn.(*net.UDPConn); ok {
		_, err := u.WriteToUDPAddrPort(b, to)
		return err
	}
	_, err := l.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

// ListenAndServe listens on every address (host:port, IPv4 or IPv6) and
// serves each socket in a goroutine of its own. ctx bounds the listening
// only; stop the server with Shutdown. It returns the first error of any
// socket (ErrServerClosed after Shutdown); the other sockets keep serving
// until Shutdown, which the caller should then call.
func (s *Server) ListenAndServe(ctx context.Context, addrs []string) error {
	if len(addrs) == 0 {
		return errors.New("radiusd: no listen address")
	}
	var lc net.ListenConfig
	conns := make([]net.PacketConn, 0, len(addrs))
	for _, a := range addrs {
		c, err := lc.ListenPacket(ctx, udpNetwork(a), a)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return fmt.Errorf("radiusd: listen %s: %w", a, err)
		}
		conns = append(conns, c)
	}
	errc := make(chan error, len(conns)) // buffered: late senders never block
	for _, c := range conns {
		go func() { errc <- s.Serve(c) }()
	}
	return <-errc
}

// Listen opens a UDP socket for addr the way ListenAndServe does: a
// literal IPv4 or IPv6 address gets a socket of that family only, so that
// 0.0.0.0:1812 and [::]:1812 can both be served, each answering from the
// address the NAS asked. A host-less ":1812" opens one socket for both
// families, whose IPv4 answers leave from the address the routing table
// picks: list the families instead.
func Listen(ctx context.Context, addr string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, udpNetwork(addr), addr)
}

// udpNetwork picks udp4 or udp6 for a literal address so that 0.0.0.0 and
// [::] can be listed together: Go makes a udp6 wildcard socket IPv6-only.
func udpNetwork(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "udp"
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return "udp"
	case ip.Is4():
		return "udp4"
	case ip.Is6() && !ip.Is4In6():
		return "udp6"
	}
	return "udp"
}

// Shutdown stops reading, waits for the requests in flight to be answered,
// and closes the sockets, so no accepted request goes unanswered. If ctx
// ends first, it cancels the requests still being decided, closes the
// sockets and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		// A past read deadline wakes the read loop without closing the
		// socket, which the answers still in flight need.
		if err := l.conn.SetReadDeadline(time.Unix(1, 0)); err != nil {
			l.conn.Close()
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { // ends when the last Serve does, which abort hastens
		s.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.abort()
		return nil
	case <-ctx.Done():
		s.abort()
		s.mu.Lock()
		for l := range s.listeners {
			l.conn.Close()
		}
		s.mu.Unlock()
		return fmt.Errorf("radiusd: shutdown: %w", ctx.Err())
	}
}
