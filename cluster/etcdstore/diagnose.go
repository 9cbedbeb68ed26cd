package etcdstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// What an admin's check of the set-up (twostepctl doctor) asks of etcd
// beyond the Store contract: the members and their health, each
// member's clock, and what the configured credentials may do.

// Member is one member of the etcd cluster, as Members found it.
type Member struct {
	// ID and Name identify the member.
	ID   uint64
	Name string
	// ClientURLs are where it serves clients, as it advertises them; its
	// status is asked at the first.
	ClientURLs []string
	// Learner marks a member that does not vote yet.
	Learner bool
	// Err says why the member did not tell its status; the fields below
	// are then zero.
	Err error
	// Version is the member's etcd version.
	Version string
	// Leader is the ID of the member it follows as leader; 0: none.
	Leader uint64
	// RaftTerm is the raft term it is in.
	RaftTerm uint64
	// DBSize is the size of its database file, in bytes.
	DBSize int64
	// Alarms are the errors the member reports (an alarm raised: "NOSPACE",
	// "CORRUPT").
	Alarms []string
}

// Members lists the cluster's members, by name, and asks each one, at its
// first client URL, for its status: all at once, each within timeout. The
// error is for a list that could not be read; a member that does not
// answer has its Err set.
func (e *Store) Members(ctx context.Context, timeout time.Duration) ([]Member, error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	list, err := e.client.MemberList(lctx)
	cancel()
	if err != nil {
		return nil, e.wrap("list the members", err)
	}
	out := make([]Member, len(list.Members))
	var wg sync.WaitGroup
	for i, m := range list.Members {
		out[i] = Member{ID: m.ID, Name: m.Name, ClientURLs: m.ClientURLs, Learner: m.IsLearner}
		if len(m.ClientURLs) == 0 {
			out[i].Err = errors.New("it advertises no client URL: added, but never started")
			continue
		}
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, err := e.client.Status(sctx, m.ClientURLs[0])
			if err != nil {
				out[i].Err = fmt.Errorf("status at %s: %w", m.ClientURLs[0], err)
				return
			}
			out[i].Version, out[i].Leader, out[i].RaftTerm = st.Version, st.Leader, st.RaftTerm
			out[i].DBSize, out[i].Alarms = st.DbSize, st.Errors
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b Member) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Clock is one reading of a member's clock beside this machine's.
type Clock struct {
	// Sent and Received are this machine's clock when the request left
	// and when the answer came.
	Sent, Received time.Time
	// Date is the member's clock in its answer's Date header, to the
	// second (HTTP dates have no fraction).
	Date time.Time
}

// Offset estimates the member's clock minus this machine's, and the
// most the estimate may be off: the member wrote Date at some moment
// between Sent and Received, within the second that Date truncates, so
// the estimate is taken at the middles of both, give or take half a
// second and half the round trip.
func (c Clock) Offset() (offset, uncertainty time.Duration) {
	rtt := c.Received.Sub(c.Sent)
	mid := c.Sent.Add(rtt / 2)
	return c.Date.Add(500 * time.Millisecond).Sub(mid), 500*time.Millisecond + rtt/2
}

// ReadClock asks the member whose client URL is url for /version, with
// the store's TLS, and reads its clock from the answer's Date header;
// now is this machine's clock. timeout bounds the request.
func (e *Store) ReadClock(ctx context.Context, url string, now func() time.Time, timeout time.Duration) (Clock, error) {
	tr := &http.Transport{TLSClientConfig: e.tls, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/version", nil)
	if err != nil {
		return Clock{}, fmt.Errorf("cluster: read the clock of %s: %w", url, err)
	}
	var c Clock
	c.Sent = now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	c.Received = now()
	if err != nil {
		return Clock{}, fmt.Errorf("cluster: read the clock of %s: %w", url, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return Clock{}, fmt.Errorf("cluster: read the clock of %s: its answer (%s) has no Date header", url, resp.Status)
	}
	c.Date = date
	return c, nil
}

// Access is what the store's credentials may do in etcd (CheckAccess).
type Access struct {
	// AuthEnabled: etcd authenticates clients (etcdctl auth enable).
	AuthEnabled bool
	// Roles are the configured user's roles, when authentication is on.
	Roles []string
	// Beyond lists the permissions of those roles that reach outside the
	// prefix (`role twostep: readwrite ["/other/", "/other0")`; the root
	// role reaches everything).
	Beyond []string
	// ReadWrite is nil when a key under the prefix was written (with a
	// short lease), read back and deleted; otherwise the failure.
	ReadWrite error
	// OutsideRefused: a read of the key space outside the prefix was
	// refused (permission denied), as it must be for a user limited to
	// the prefix. Checked only when authentication is on.
	OutsideRefused bool
	// Outside is the error of that read when it was neither allowed nor
	// refused (no answer).
	Outside error
}

// doctorTTL is the lease of the key CheckAccess writes: should its
// delete fail, etcd removes the key by itself soon.
const doctorTTL = 30

// CheckAccess reports whether etcd authenticates clients, the
// configured user's roles and their reach, and tries the access the
// daemon needs (a write, read and delete of a key under the prefix,
// "doctor/<random>") and one it must not have (a read of every key,
// refused unless a role reaches beyond the prefix). Each request is
// bounded by timeout. The error is for an authentication status that
// could not be read.
func (e *Store) CheckAccess(ctx context.Context, timeout time.Duration) (Access, error) {
	var a Access
	sctx, cancel := context.WithTimeout(ctx, timeout)
	st, err := e.client.AuthStatus(sctx)
	cancel()
	if err != nil {
		return a, e.wrap("authentication status", err)
	}
	a.AuthEnabled = st.Enabled
	if a.AuthEnabled && e.cfg.Username != "" {
		a.Roles, a.Beyond, err = e.reach(ctx, timeout)
		if err != nil {
			return a, err
		}
	}
	a.ReadWrite = e.tryReadWrite(ctx, timeout)
	if a.AuthEnabled {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		// Count only: when it is allowed nothing is read but a number.
		_, err := e.client.KV.Get(sctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
		cancel()
		switch {
		case errors.Is(err, rpctypes.ErrPermissionDenied):
			a.OutsideRefused = true
		case err != nil:
			a.Outside = e.wrap("read outside the prefix", err)
		}
	}
	return a, nil
}

// rootRole is etcd's built-in role that may do anything; it has no
// permissions to read.
const rootRole = "root"

// reach returns the configured user's roles and the permissions of
// those roles that reach outside the prefix.
func (e *Store) reach(ctx context.Context, timeout time.Duration) (roles, beyond []string, err error) {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := e.client.UserGet(sctx, e.cfg.Username)
	if err != nil {
		return nil, nil, e.wrap(fmt.Sprintf("read the roles of user %q", e.cfg.Username), err)
	}
	roles = slices.Sorted(slices.Values(u.Roles))
	end := clientv3.GetPrefixRangeEnd(e.cfg.Prefix)
	for _, name := range roles {
		if name == rootRole {
			beyond = append(beyond, "role root: every key, user and role")
			continue
		}
		r, err := e.client.RoleGet(sctx, name)
		if err != nil {
			return nil, nil, e.wrap(fmt.Sprintf("read role %q", name), err)
		}
		for _, p := range r.Perm {
			key, rangeEnd := string(p.Key), string(p.RangeEnd)
			inside := strings.HasPrefix(key, e.cfg.Prefix) && (rangeEnd == "" || (rangeEnd != "\x00" && rangeEnd <= end))
			if !inside {
				beyond = append(beyond, fmt.Sprintf("role %s: %s %s", name, strings.ToLower(p.PermType.String()), permRange(key, rangeEnd)))
			}
		}
	}
	return roles, beyond, nil
}

// permRange shows a permission's keys as etcdctl role get does.
func permRange(key, end string) string {
	switch end {
	case "":
		return fmt.Sprintf("%q", key)
	case "\x00":
		return fmt.Sprintf("[%q, <open ended>)", key)
	}
	return fmt.Sprintf("[%q, %q)", key, end)
}

// tryReadWrite writes a key under the prefix with a short lease, reads it
// back and deletes it.
func (e *Store) tryReadWrite(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var b [8]byte
	_, _ = rand.Read(b[:])
	key, value := "doctor/"+hex.EncodeToString(b[:]), "twostepctl doctor "+time.Now().UTC().Format(time.RFC3339)
	lease, err := e.client.Grant(ctx, doctorTTL)
	if err != nil {
		return e.wrap("grant a lease", err)
	}
	// The lease goes with the key; revoking it deletes the key too, should
	// the delete below not have run.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		_, _ = e.client.Revoke(rctx, lease.ID)
	}()
	if _, err := e.kv.Put(ctx, key, value, clientv3.WithLease(lease.ID)); err != nil {
		return e.wrap(fmt.Sprintf("write %q", key), err)
	}
	resp, err := e.kv.Get(ctx, key)
	if err != nil {
		return e.wrap(fmt.Sprintf("read %q", key), err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != value {
		return fmt.Errorf("cluster: read %q back: got %d keys, not what was written", key, len(resp.Kvs))
	}
	if _, err := e.kv.Delete(ctx, key); err != nil {
		return e.wrap(fmt.Sprintf("delete %q", key), err)
	}
	return nil
}
