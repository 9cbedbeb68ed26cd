package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/cluster"
	"twostep/notify"
	"twostep/notify/pushtest"
	"twostep/portal"
	"twostep/radiusd"
)

// These tests run twostepd nodes with push approval against one etcd, a
// webhook receiver as the user's phone, and a simulated NAS that
// retransmits and fails over between nodes on its own schedule.

// pushCluster is a cluster with push approval and a phone for carol.
type pushCluster struct {
	*twoNodes
	urls   []string // every node's approval API
	phone  *pushtest.Webhook
	key    portal.DeviceKey
	device string
}

func startPushCluster(t *testing.T, nodes int) *pushCluster {
	t.Helper()
	return startPushClusterWith(t, nodes, "")
}

// startPushClusterWith is startPushCluster with more in every node's
// configuration (a clients or passcodes section replaces the default).
func startPushClusterWith(t *testing.T, nodes int, more string) *pushCluster {
	t.Helper()
	var ports, urls []string
	for i := range nodes {
		p := freePort(t)
		ports = append(ports, fmt.Sprint(p))
		urls = append(urls, fmt.Sprintf("http://127.0.0.%d:%d", i+1, p))
	}
	extra := func(i int) string {
		return more + fmt.Sprintf("push:\n  listen: \"127.0.0.%d:%s\"\n  urls: [%s]\n  limit: {count: 5, window: 5m}\n", i+1, ports[i], strings.Join(urls, ", "))
	}
	failmodes := make([]string, nodes)
	for i := range failmodes {
		failmodes[i] = "secure"
	}
	n := startNodesExtra(t, nil, extra, failmodes...)
	secret := []byte("webhook secret of carol's phone")
	pc := &pushCluster{twoNodes: n, urls: urls, phone: pushtest.NewWebhook(t, secret)}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pc.key = portal.DeviceKey{Key: k}
	target := pc.phone.Target()
	d, err := cluster.NewPushDevice("phone", cluster.PushDevice{PublicKey: pc.key.PublicKey(), Kind: notify.KindWebhook, Endpoint: target.Endpoint, Secret: secret}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err = n.accounts.AddDevice(context.Background(), clusterUser, d)
	if err != nil {
		t.Fatal(err)
	}
	pc.device = d.ID
	return pc
}

// notification waits for the phone's next notification.
func (pc *pushCluster) notification(t *testing.T) notify.Message {
	t.Helper()
	select {
	case m := <-pc.phone.Messages():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no push notification within 10s")
	}
	panic("unreachable")
}

// noMoreNotifications fails if the phone gets another one within d.
func (pc *pushCluster) noMoreNotifications(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-pc.phone.Messages():
		t.Fatalf("a second push for one login: %+v", m)
	case <-time.After(d):
	}
}

// answer has the phone answer m through the first API that answers, as
// the simulator and the web authenticator do.
func (pc *pushCluster) answer(t *testing.T, m notify.Message, decision cluster.PushState) (portal.AnswerResponse, int, error) {
	t.Helper()
	req, err := pc.key.Sign(m.Tx, m.Device, decision, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for _, u := range m.Answer {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, status, err := portal.PostAnswer(ctx, http.DefaultClient, u, req)
		cancel()
		var op *net.OpError
		if errors.As(err, &op) {
			last = err // this node is down: try the next
			continue
		}
		return resp, status, err
	}
	return portal.AnswerResponse{}, 0, last
}

// nas is a simulated NAS: one request, retransmitted every second to
// the servers of schedule in turn, the same bytes each time.
type nas struct {
	conn *net.UDPConn
	req  []byte
}

func newNAS(t *testing.T, user, password string) *nas {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(p, user)
	rfc2865.UserPassword_SetString(p, password)
	b, err := radiusd.SignRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &nas{conn: c, req: b}
}

// run sends to schedule[0], then each second the same packet to the next
// server of schedule (the last one repeats), until an answer arrives or
// total passes. It returns the answer's code and which server answered.
func (n *nas) run(t *testing.T, schedule []string, total time.Duration) (radius.Code, string) {
	t.Helper()
	deadline := time.Now().Add(total)
	buf := make([]byte, 4096)
	for i := 0; time.Now().Before(deadline); i++ {
		to := schedule[min(i, len(schedule)-1)]
		ua, _ := net.ResolveUDPAddr("udp", to)
		n.conn.WriteToUDP(n.req, ua)
		n.conn.SetReadDeadline(time.Now().Add(time.Second))
		m, from, err := n.conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		if err := radiusd.VerifyResponse(buf[:m], n.req, []byte(testSecret)); err != nil {
			t.Fatalf("answer from %s: %v", from, err)
		}
		return radius.Code(buf[0]), from.String()
	}
	return 0, ""
}

func TestClusterPushOnePushAcrossFailover(t *testing.T) {
	pc := startPushCluster(t, 2)
	nas := newNAS(t, clusterUser, clusterPassword+",push")
	type result struct {
		code radius.Code
		from string
	}
	done := make(chan result, 1)
	go func() {
		// Two tries at A, then B: a NAS failing over while the user
		// reaches for the phone.
		code, from := nas.run(t, []string{pc.a.radius, pc.a.radius, pc.b.radius}, 20*time.Second)
		done <- result{code, from}
	}()
	m := pc.notification(t)
	if m.User != clusterUser || m.Service != clusterService || len(m.Answer) != 2 {
		t.Errorf("notification %+v, want the user, the client's display name and both nodes", m)
	}
	time.Sleep(2500 * time.Millisecond) // the NAS has moved to B
	if _, status, err := pc.answer(t, m, cluster.PushApproved); err != nil || status != http.StatusOK {
		t.Fatalf("approve: %d %v", status, err)
	}
	r := <-done
	if r.code != radius.CodeAccessAccept {
		t.Fatalf("got %v from %s, want Access-Accept", r.code, r.from)
	}
	pc.noMoreNotifications(t, 500*time.Millisecond)
	if strings.Count(pc.a.logText()+pc.b.logText(), `"reason":"push_approved"`) < 1 {
		t.Errorf("no push_approved in the logs")
	}
}

func TestClusterPushWaitingNodeKilled(t *testing.T) {
	pc := startPushCluster(t, 2)
	nas := newNAS(t, clusterUser, clusterPassword+",push")
	done := make(chan radius.Code, 1)
	go func() {
		code, _ := nas.run(t, []string{pc.a.radius, pc.b.radius}, 20*time.Second)
		done <- code
	}()
	m := pc.notification(t)
	// The node waiting on the push dies without a word.
	pc.a.cmd.Process.Signal(syscall.SIGKILL)
	<-pc.a.exited
	time.Sleep(1500 * time.Millisecond) // the NAS retransmits to B, which joins
	resp, status, err := pc.answer(t, m, cluster.PushApproved)
	if err != nil || resp.State != "approved" {
		t.Fatalf("approve with A dead: %d %+v %v", status, resp, err)
	}
	if code := <-done; code != radius.CodeAccessAccept {
		t.Fatalf("got %v, want Access-Accept from B", code)
	}
	pc.noMoreNotifications(t, 500*time.Millisecond)
}

func TestClusterPushAnswersRefused(t *testing.T) {
	pc := startPushCluster(t, 2)
	nas := newNAS(t, clusterUser, clusterPassword+",push")
	done := make(chan radius.Code, 1)
	go func() {
		code, _ := nas.run(t, []string{pc.a.radius}, 20*time.Second)
		done <- code
	}()
	m := pc.notification(t)

	// A stranger's key, through B's API.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _ := portal.DeviceKey{Key: k}.Sign(m.Tx, m.Device, cluster.PushApproved, "", time.Now())
	if _, status, err := portal.PostAnswer(context.Background(), http.DefaultClient, pc.urls[1], forged); status != http.StatusForbidden {
		t.Fatalf("forged answer: %d %v, want 403", status, err)
	}
	// "This wasn't me", through B, while A waits.
	if _, status, err := pc.answer(t, m, cluster.PushFraud); err != nil || status != http.StatusOK {
		t.Fatalf("fraud report: %d %v", status, err)
	}
	if code := <-done; code != radius.CodeAccessReject {
		t.Fatalf("got %v, want Access-Reject", code)
	}
	// The same signed answer again is a replay.
	again, _ := pc.key.Sign(m.Tx, m.Device, cluster.PushApproved, "", time.Now())
	if _, status, _ := portal.PostAnswer(context.Background(), http.DefaultClient, pc.urls[0], again); status != http.StatusConflict {
		t.Fatalf("answer to an answered push: %d, want 409", status)
	}
	// The account is locked on every node: no push is sent.
	if a := login(t, pc.b.radius, clusterUser, clusterPassword+",push", nil); a.code != radius.CodeAccessReject || a.message != "Your account is locked: you reported a login as not yours. Contact the help desk." {
		t.Fatalf("after a fraud report: %v %q, want a reject saying the user reported a login", a.code, a.message)
	}
	pc.noMoreNotifications(t, 300*time.Millisecond)
}

// TestClusterWebPush sends the push through a Web Push service that
// checks the VAPID token and decrypts the RFC 8291 payload, as a
// browser's push service and the browser do.
// webPushService starts the test's Web Push service, makes the daemons
// started after it trust it, and writes a VAPID key file for them.
func webPushService(t *testing.T) (svc *pushtest.Service, vapidFile string) {
	t.Helper()
	svc = pushtest.NewService(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "push-service.pem")
	if err := os.WriteFile(ca, svc.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", ca) // the daemons trust the test's push service
	vapid, _ := notify.GenerateVAPID()
	enc, _ := notify.EncodeVAPIDPrivateKey(vapid)
	vapidFile = filepath.Join(dir, "vapid.key")
	if err := os.WriteFile(vapidFile, []byte(enc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return svc, vapidFile
}

func TestClusterWebPush(t *testing.T) {
	svc, vapidFile := webPushService(t)
	port := freePort(t)
	n := startNodesExtra(t, nil, func(int) string {
		return fmt.Sprintf("push:\n  listen: \"127.0.0.1:%d\"\n  webpush: {vapid_key_file: %s, subject: \"mailto:helpdesk@example.edu\"}\n", port, vapidFile)
	}, "secure")
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key := portal.DeviceKey{Key: k}
	sub := svc.Subscribe()
	d, _ := cluster.NewPushDevice("browser", cluster.PushDevice{PublicKey: key.PublicKey(), Kind: notify.KindWebPush, Endpoint: sub.Endpoint, P256DH: sub.P256DH, Auth: sub.Auth}, time.Now())
	if _, err := n.accounts.AddDevice(context.Background(), clusterUser, d); err != nil {
		t.Fatal(err)
	}
	done := make(chan answer, 1)
	go func() { done <- login(t, n.a.radius, clusterUser, clusterPassword+",push", nil) }()
	var m notify.Message
	select {
	case m = <-svc.Messages():
	case <-time.After(10 * time.Second):
		t.Fatalf("no Web Push within 10s; the service refused: %v\n%s", svc.Rejected(), n.a.logText())
	}
	pushes := svc.Pushes()
	if len(pushes) != 1 || pushes[0].Urgency != "high" || pushes[0].TTL <= 0 {
		t.Errorf("push as the service saw it: %+v", pushes)
	}
	req, _ := key.Sign(m.Tx, m.Device, cluster.PushApproved, "", time.Now())
	if _, status, err := portal.PostAnswer(context.Background(), http.DefaultClient, m.Answer[0], req); err != nil || status != http.StatusOK {
		t.Fatalf("approve: %d %v", status, err)
	}
	if a := <-done; a.code != radius.CodeAccessAccept {
		t.Fatalf("got %v %q, want Access-Accept", a.code, a.message)
	}
}
