// Package etcdstore is the cluster.Store on etcd, an external cluster or
// the one twostepd runs itself (cluster/embedded): its connection settings
// (Config, the cluster section's etcd keys), the client, and what the
// contract asks beyond etcd's API: prefix isolation, leases shared by
// writes of one TTL, and commits whose outcome is unknown resolved by
// reading back. Its errors say which endpoint said what and never
// include the password.
package etcdstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"twostep/cluster"
	"twostep/confcheck"
)

// Defaults of Config.
const (
	DefaultPrefix         = "/twostep/"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 2 * time.Second
)

// Config says how to reach the etcd cluster the twostepd nodes share:
// the keys of the configuration file's cluster section, each under its
// yaml key. Every field but Endpoints has a working zero value.
type Config struct {
	// Endpoints are client URLs of etcd members: "https://10.0.0.1:2379",
	// "http://127.0.0.1:2379" or "10.0.0.1:2379". Required; all of one
	// scheme, since the client picks its credentials from the first.
	Endpoints []string `yaml:"endpoints"`
	// Prefix is put before every key, so one etcd can hold several
	// clusters or other applications and RBAC can grant exactly this
	// range. It starts and ends with "/". Default "/twostep/".
	Prefix string `yaml:"prefix"`
	// CAFile is the PEM bundle that verifies the etcd servers'
	// certificates. Default: the system roots (with https:// endpoints).
	CAFile string `yaml:"ca_file" config:"path"`
	// CertFile and KeyFile are the PEM client certificate and key for an
	// etcd started with --client-cert-auth. Both or neither; default none.
	CertFile string `yaml:"cert_file" config:"path"`
	KeyFile  string `yaml:"key_file" config:"path"`
	// ServerName is the name checked in the servers' certificates.
	// Default: the host of each endpoint.
	ServerName string `yaml:"server_name"`
	// Username and Password log in to etcd's RBAC. Both or neither;
	// default none. The configuration file gives the password as
	// password, password_file or password_env (configs resolves it).
	Username string `yaml:"username"`
	Password string `yaml:"password" config:"secret"`
	// DialTimeout bounds Open's first contact and login. Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// RequestTimeout bounds each request (Get, List, Commit, Ping) unless
	// the caller's context ends earlier, so a stuck etcd turns into
	// ErrUnavailable while the NAS still waits for an answer. Default 2s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// Validate reports every problem of c in one confcheck.Problems, each
// under its key. It reads no files; Open does, and says which one
// failed.
func (c Config) Validate() error {
	var ps confcheck.Problems
	if len(c.Endpoints) == 0 {
		ps.Add("endpoints", "at least one etcd client URL is required")
	}
	schemes := map[string]bool{}
	for i, ep := range c.Endpoints {
		field := fmt.Sprintf("endpoints[%d]", i)
		scheme, err := endpointScheme(ep)
		if err != nil {
			ps.Add(field, "%v", err)
			continue
		}
		schemes[scheme] = true
		if scheme == "http" && (c.CAFile != "" || c.CertFile != "") {
			ps.Add(field, "%q is http:// but TLS files are set; use https://", ep)
		}
	}
	if schemes["http"] && schemes["https"] {
		ps.Add("endpoints", "both http:// and https://; give one scheme")
	}
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/")) {
		ps.Add("prefix", "%q must start and end with \"/\"", c.Prefix)
	}
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		ps.Add("cert_file", "give key_file too, or neither")
	case c.CertFile == "" && c.KeyFile != "":
		ps.Add("key_file", "give cert_file too, or neither")
	}
	switch {
	case c.Username != "" && c.Password == "":
		ps.Add("username", "give password too, or neither")
	case c.Username == "" && c.Password != "":
		ps.Add("password", "give username too, or neither")
	}
	if c.DialTimeout < 0 {
		ps.Add("dial_timeout", "must not be negative; got %v", c.DialTimeout)
	}
	if c.RequestTimeout < 0 {
		ps.Add("request_timeout", "must not be negative; got %v", c.RequestTimeout)
	}
	return ps.Err()
}

// endpointScheme returns "http", "https" or "" (bare host:port) for a
// valid endpoint.
func endpointScheme(ep string) (string, error) {
	if !strings.Contains(ep, "://") {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return "", fmt.Errorf("%q is neither a URL nor host:port", ep)
		}
		return "", nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		// url.Parse's error repeats the endpoint, which may hold a password.
		return "", errors.New("an endpoint is not a URL (want scheme://host:port)")
	}
	if u.User != nil {
		return "", fmt.Errorf("%q: credentials belong in username and password_file, not in the URL", u.Redacted())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%q: want scheme://host:port and nothing more", u.Redacted())
	}
	return u.Scheme, nil
}

// WithDefaults returns c with every zero field but Endpoints set to its
// default.
func (c Config) WithDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	return c
}

// tlsConfig builds the client TLS from the files, or returns nil when the
// endpoints are plain http.
func (c Config) tlsConfig() (*tls.Config, error) {
	https := false
	for _, ep := range c.Endpoints {
		https = https || strings.HasPrefix(ep, "https://")
	}
	if !https && c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file %s, key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Store is the cluster.Store on an etcd cluster, external or embedded. It
// is safe for concurrent use; Close releases it.
type Store struct {
	cfg    Config
	tls    *tls.Config // nil for http:// endpoints
	client *clientv3.Client
	kv     clientv3.KV      // every key under cfg.Prefix
	watch  clientv3.Watcher // the same prefix

	// leases are shared by the writes that ask for the same TTL within a
	// short span, so that a challenge or an audit event costs no lease
	// grant of its own (a round trip and a write in etcd each).
	leaseMu sync.Mutex
	leases  map[int64]sharedLease
}

// sharedLease is a lease granted for a TTL's writes, longer than the TTL
// by its reuse span: a key attached at the end of the span still lives at
// least its TTL.
type sharedLease struct {
	id    clientv3.LeaseID
	until time.Time // reuse ends
}

// leaseSpan is how long a lease for ttl seconds is shared: a tenth of the
// TTL, from 1 s to 10 minutes. Keys live up to that much longer than
// asked, which only delays clean-up (expiry that matters is in values).
func leaseSpan(secs int64) int64 {
	return min(max(secs/10, 1), 600)
}

// Open connects to etcd and checks, with one linearizable read, that
// the cluster answers: a wrong endpoint, certificate or password stops the
// daemon at start instead of failing the first login. It gives up after
// DialTimeout with an error naming the endpoints and what each one said.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: etcd: %w", err)
	}
	cfg = cfg.WithDefaults()
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()

	// The client connects lazily and waits for a down member until the
	// deadline, then says only "deadline exceeded". Probing each endpoint
	// tells the operator which one refused, timed out or failed the TLS
	// handshake. The probes start once the first contact is slow or has
	// failed, so a healthy start opens no extra connections, and they end
	// with the same deadline.
	var (
		wg     sync.WaitGroup
		probes []string
		failed = make(chan struct{})
	)
	wg.Go(func() {
		timer := time.NewTimer(min(probeDelay, cfg.DialTimeout/2))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-failed:
		case <-ctx.Done():
			return
		}
		probes = probeEndpoints(ctx, cfg.Endpoints, tc)
	})

	e, err := dial(ctx, cfg, tc)
	if err == nil {
		cancel()
		wg.Wait()
		return e, nil
	}
	close(failed)
	wg.Wait()
	eps := strings.Join(cfg.Endpoints, ", ")
	if transient(err) {
		return nil, fmt.Errorf("cluster: etcd at %s did not answer within %v: %w: %w [%s]; check that etcd runs and listens there, the http/https scheme, firewalls and the TLS files",
			eps, cfg.DialTimeout, cluster.ErrUnavailable, err, strings.Join(probes, "; "))
	}
	return nil, fmt.Errorf("cluster: etcd at %s: %w [%s]; check the credentials, their RBAC role on the prefix %q and the TLS files",
		eps, err, strings.Join(probes, "; "), cfg.Prefix)
}

// dial creates the client and pings through it.
func dial(ctx context.Context, cfg Config, tc *tls.Config) (*Store, error) {
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         tc,
		Username:    cfg.Username,
		Password:    cfg.Password,
		// Errors come back to the caller, who logs them once; the
		// client's own retry warnings would flood the daemon's log.
		Logger: zap.NewNop(),
		// Keepalives notice a dead member between requests, so the next
		// request goes to a live one instead of timing out.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	e := &Store{cfg: cfg, tls: tc, client: client, kv: namespace.NewKV(client.KV, cfg.Prefix), watch: namespace.NewWatcher(client.Watcher, cfg.Prefix)}
	if err := e.ping(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return e, nil
}

// probeEndpoints dials each endpoint (and shakes hands when tc is set)
// and describes the outcome, for the error of a failed Open.
func probeEndpoints(ctx context.Context, endpoints []string, tc *tls.Config) []string {
	out := make([]string, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() { out[i] = ep + ": " + probeEndpoint(ctx, ep, tc) })
	}
	wg.Wait()
	return out
}

func probeEndpoint(ctx context.Context, ep string, tc *tls.Config) string {
	host := ep
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		host = u.Host
		if u.Scheme == "http" {
			tc = nil
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })()
	if tc == nil {
		return "TCP connect ok"
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(host)
	}
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		return "TLS: " + err.Error()
	}
	// With TLS 1.3 a server refuses the client's certificate only after
	// the handshake, in an alert the next read returns. A gRPC server
	// sends nothing before the client speaks, so a read that times out
	// means the server kept the connection.
	conn.SetReadDeadline(time.Now().Add(probeReadWait))
	if ctx.Err() != nil {
		return "TCP and TLS ok"
	}
	if _, err := tconn.Read(make([]byte, 1)); err != nil {
		if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
			return "TLS: " + err.Error()
		}
	}
	return "TCP and TLS ok"
}

const (
	// probeDelay is how long Open waits for a healthy etcd before
	// probing the endpoints.
	probeDelay = 500 * time.Millisecond
	// probeReadWait is how long probeEndpoint waits for a TLS alert.
	probeReadWait = 300 * time.Millisecond
)

// Close releases the connections to etcd.
func (e *Store) Close() error {
	if err := e.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("cluster: close etcd client: %w", err)
	}
	return nil
}

// Ping does one cheap linearizable read, so it succeeds only while a
// quorum of the etcd cluster answers: the readiness probe of a node.
func (e *Store) Ping(ctx context.Context) error {
	if err := e.ping(ctx); err != nil {
		return e.wrap("ping", err)
	}
	return nil
}

func (e *Store) ping(ctx context.Context) error {
	ctx, cancel := e.requestContext(ctx)
	defer cancel()
	_, err := e.kv.Get(ctx, "ping", clientv3.WithCountOnly())
	return err
}

// Get returns the entry at key, or ErrNotFound, in one linearizable read.
func (e *Store) Get(ctx context.Context, key string) (cluster.Entry, error) {
	if key == "" {
		return cluster.Entry{}, fmt.Errorf("cluster: get: %w: empty key", cluster.ErrMalformed)
	}
	ctx, cancel := e.requestContext(ctx)
	defer cancel()
	resp, err := e.kv.Get(ctx, key)
	if err != nil {
		return cluster.Entry{}, e.wrap(fmt.Sprintf("get %q", key), err)
	}
	if len(resp.Kvs) == 0 {
		return cluster.Entry{}, cluster.ErrNotFound
	}
	kv := resp.Kvs[0]
	return cluster.Entry{Key: key, Value: kv.Value, ModRevision: kv.ModRevision}, nil
}

// List returns the entries whose keys start with prefix, sorted by key, in
// one linearizable read. The prefix is raw bytes: "users/a" also matches
// "users/ab"; end it with "/" to list one directory.
func (e *Store) List(ctx context.Context, prefix string) ([]cluster.Entry, error) {
	ctx, cancel := e.requestContext(ctx)
	defer cancel()
	resp, err := e.kv.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, e.wrap(fmt.Sprintf("list %q", prefix), err)
	}
	out := make([]cluster.Entry, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = cluster.Entry{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
	}
	return out, nil
}

// Commit runs txn as one etcd transaction; see Store.Commit. Ops with a
// TTL share one lease per distinct TTL, granted before the transaction; a
// lease a conflict leaves unused expires by itself.
func (e *Store) Commit(ctx context.Context, txn cluster.Txn) (int64, error) {
	if err := txn.Validate(); err != nil {
		return 0, fmt.Errorf("cluster: commit: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cluster: commit: %w: %w", cluster.ErrUnavailable, err)
	}
	// One RequestTimeout covers the leases and the Txn.
	rctx, cancel := e.requestContext(ctx)
	defer cancel()
	var resp *clientv3.TxnResponse
	for attempt := 0; ; attempt++ {
		leases, err := e.grantLeases(rctx, txn.Then)
		if err != nil {
			return 0, err
		}
		resp, err = e.kv.Txn(rctx).If(e.compares(txn)...).Then(e.ops(txn, leases)...).Commit()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
			// A shared lease ended early (revoked by an admin): nothing
			// was written; try once more with a fresh lease.
			e.forgetLeases()
			continue
		}
		if err != nil {
			return e.commitFailed(ctx, txn, err)
		}
		break
	}
	if !resp.Succeeded {
		return 0, cluster.ErrConflict
	}
	return resp.Header.Revision, nil
}

// Watch reports the changes under prefix until ctx ends; see Store.Watch.
// The etcd client resumes a watch across reconnections from the last
// revision it saw, so a member going away loses no event; the channel
// closes when the watch is canceled (compaction, no leader) or ctx ends.
func (e *Store) Watch(ctx context.Context, prefix string) <-chan cluster.WatchEvent {
	out := make(chan cluster.WatchEvent)
	// RequireLeader: a member cut off from its cluster ends the watch
	// instead of keeping it silently stale.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := e.watch.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	go func() {
		defer close(out)
		defer cancel()
		for resp := range wch {
			if resp.Err() != nil || resp.Canceled {
				return
			}
			var evs []cluster.WatchEvent
			if resp.Created {
				evs = append(evs, cluster.WatchEvent{Created: true})
			}
			for _, ev := range resp.Events {
				we := cluster.WatchEvent{Entry: cluster.Entry{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision}}
				if ev.Type == clientv3.EventTypeDelete {
					we.Deleted = true
				} else {
					we.Entry.Value = ev.Kv.Value
				}
				evs = append(evs, we)
			}
			for _, we := range evs {
				select {
				case out <- we:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// compares turns txn's conditions into etcd's.
func (e *Store) compares(txn cluster.Txn) []clientv3.Cmp {
	cmps := make([]clientv3.Cmp, len(txn.If))
	for i, c := range txn.If {
		// etcd compares an absent key as ModRevision 0, which is
		// exactly Compare's "0 means absent".
		cmps[i] = clientv3.Compare(clientv3.ModRevision(c.Key), "=", c.ModRevision)
	}
	return cmps
}

// ops turns txn's writes into etcd's, with the leases granted for them.
func (e *Store) ops(txn cluster.Txn, leases map[int64]clientv3.LeaseID) []clientv3.Op {
	ops := make([]clientv3.Op, len(txn.Then))
	for i, op := range txn.Then {
		switch {
		case op.Delete:
			ops[i] = clientv3.OpDelete(op.Key)
		case op.TTL > 0:
			ops[i] = clientv3.OpPut(op.Key, string(op.Value), clientv3.WithLease(leases[leaseSeconds(op.TTL)]))
		default:
			ops[i] = clientv3.OpPut(op.Key, string(op.Value))
		}
	}
	return ops
}

// commitFailed answers a Txn call that returned err: an error, or, when
// the request may have been applied, the outcome learnt by reading back.
func (e *Store) commitFailed(ctx context.Context, txn cluster.Txn, err error) (int64, error) {
	if !mayHaveApplied(err) {
		return 0, e.wrap("commit", err)
	}
	// The request may have been applied: learn whether before answering,
	// with a fresh timeout since the caller's may be what ran out.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.RequestTimeout)
	defer cancel()
	rev, rerr := resolveOutcome(rctx, txn, e.readBack)
	if rerr != nil {
		return 0, fmt.Errorf("cluster: commit: %w; resolving the outcome: %w", err, rerr)
	}
	return rev, nil
}

// grantLeases grants one lease per distinct TTL (in whole seconds) of ops.
func (e *Store) grantLeases(ctx context.Context, ops []cluster.Op) (map[int64]clientv3.LeaseID, error) {
	var leases map[int64]clientv3.LeaseID
	for _, op := range ops {
		if op.Delete || op.TTL <= 0 {
			continue
		}
		secs := leaseSeconds(op.TTL)
		if _, ok := leases[secs]; ok {
			continue
		}
		if leases == nil {
			leases = make(map[int64]clientv3.LeaseID)
		}
		id, err := e.lease(ctx, secs)
		if err != nil {
			return nil, err
		}
		leases[secs] = id
	}
	return leases, nil
}

// lease returns a lease that keeps a key at least secs seconds, granting
// one when none granted recently can.
func (e *Store) lease(ctx context.Context, secs int64) (clientv3.LeaseID, error) {
	now := time.Now()
	e.leaseMu.Lock()
	l, ok := e.leases[secs]
	e.leaseMu.Unlock()
	if ok && now.Before(l.until) {
		return l.id, nil
	}
	span := leaseSpan(secs)
	resp, err := e.client.Lease.Grant(ctx, secs+span)
	if err != nil {
		return 0, e.wrap(fmt.Sprintf("commit: grant a %ds lease", secs+span), err)
	}
	e.leaseMu.Lock()
	if e.leases == nil {
		e.leases = make(map[int64]sharedLease)
	}
	e.leases[secs] = sharedLease{id: resp.ID, until: now.Add(time.Duration(span) * time.Second)}
	e.leaseMu.Unlock()
	return resp.ID, nil
}

// forgetLeases drops the shared leases, after etcd said one is gone.
func (e *Store) forgetLeases() {
	e.leaseMu.Lock()
	e.leases = nil
	e.leaseMu.Unlock()
}

func leaseSeconds(ttl time.Duration) int64 {
	return int64((ttl + time.Second - 1) / time.Second)
}

// readBack reads keys in one read-only transaction, so all of them are
// seen at one revision.
func (e *Store) readBack(ctx context.Context, keys []string) (map[string]cluster.Entry, int64, error) {
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpGet(k)
	}
	resp, err := e.kv.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, 0, e.wrap("read back", err)
	}
	found := make(map[string]cluster.Entry, len(keys))
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().GetKvs() {
			found[string(kv.Key)] = cluster.Entry{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
		}
	}
	return found, resp.Header.Revision, nil
}

// outcomeReader reads keys at one revision: the entries found, and the
// revision of the read.
type outcomeReader func(ctx context.Context, keys []string) (map[string]cluster.Entry, int64, error)

// resolveOutcome learns whether a Txn whose reply was lost was applied,
// from what its keys hold now.
//
// The Txn was applied when every key it put holds exactly the bytes put,
// all at one revision (values are unique, so nobody else wrote them), and
// every key it deleted is absent; the result is then that revision. A
// Txn that only deletes leaves nothing of its own to find: when it
// compared revisions (a decision, such as spending a single-use code)
// another writer's delete looks the same, so its outcome is unknown
// (ErrUnavailable); a blind delete is done either way.
//
// When a key holds something else, the Txn is not the last word on it:
// the result is ErrConflict, and the caller reads again and decides
// again. That stays right if the Txn lands later or was overwritten at
// once, since the caller's next Commit compares revisions and sees it.
//
// When the keys cannot be read the result wraps ErrUnavailable.
func resolveOutcome(ctx context.Context, txn cluster.Txn, read outcomeReader) (int64, error) {
	ops := txn.Then
	if len(ops) == 0 {
		return 0, fmt.Errorf("%w: a txn without ops leaves nothing to read back", cluster.ErrUnavailable)
	}
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Key
	}
	found, readRev, err := read(ctx, keys)
	if err != nil {
		if !errors.Is(err, cluster.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", cluster.ErrUnavailable, err)
		}
		return 0, err
	}
	var rev int64
	for _, op := range ops {
		got, ok := found[op.Key]
		switch {
		case op.Delete && ok:
			return 0, fmt.Errorf("%w: %q exists", cluster.ErrConflict, op.Key)
		case op.Delete:
		case !ok:
			return 0, fmt.Errorf("%w: %q is absent", cluster.ErrConflict, op.Key)
		case !bytes.Equal(got.Value, op.Value):
			return 0, fmt.Errorf("%w: %q holds other bytes", cluster.ErrConflict, op.Key)
		case rev != 0 && got.ModRevision != rev:
			return 0, fmt.Errorf("%w: the keys put hold their bytes at different revisions", cluster.ErrUnavailable)
		default:
			rev = got.ModRevision
		}
	}
	if rev == 0 {
		if len(txn.If) > 0 {
			return 0, fmt.Errorf("%w: the keys this delete compared are gone, by it or by another writer", cluster.ErrUnavailable)
		}
		// A blind delete, and the keys are gone: whether this Txn or
		// another removed them, the state is the one asked for.
		rev = readRev
	}
	return rev, nil
}

// requestContext bounds one request by RequestTimeout, or by the caller's
// deadline when that is earlier.
func (e *Store) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.RequestTimeout)
}

// wrap gives err context, and marks it ErrUnavailable when it means etcd
// did not answer in time.
func (e *Store) wrap(what string, err error) error {
	if transient(err) {
		return fmt.Errorf("cluster: %s: %w: %w", what, cluster.ErrUnavailable, err)
	}
	return fmt.Errorf("cluster: %s: %w", what, err)
}

// transient reports whether err means etcd could not answer in time: a
// deadline, a cancellation, a lost connection, no leader, a server-side
// timeout, an overloaded server. Other errors are answers: permission
// denied, request too large, no space.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || clientv3.IsConnCanceled(err) {
		return true
	}
	if errors.Is(err, rpctypes.ErrTooManyRequests) {
		return true // overloaded: as good as unreachable, and refused unapplied
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
			return true
		}
	}
	return false
}

// mayHaveApplied reports whether a failed Txn may still have been applied:
// every error but a server's definite refusal.
func mayHaveApplied(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated,
			codes.FailedPrecondition, codes.ResourceExhausted, codes.OutOfRange,
			codes.NotFound, codes.AlreadyExists, codes.Unimplemented:
			return false
		}
	}
	return true
}
