package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/cluster"
	"twostep/directory/ldaptest"
	"twostep/notify"
	"twostep/notify/pushtest"
	"twostep/portal"
)

// What operators are given to watch twostep: Prometheus rules and a
// Grafana dashboard, each checked against the daemon they watch.
const (
	alertsFile     = "../../deploy/prometheus/alerts.yml"
	alertsTestFile = "../../deploy/prometheus/alerts_test.yml"
	dashboardFile  = "../../deploy/grafana/twostep-dashboard.json"
)

// promtool returns the path of Prometheus's promtool, failing t with the
// command that installs it when it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run `make test` as root, or `apt-get install -y prometheus`")
	}
	return path
}

// TestAlertRules checks the alerting rules with promtool (syntax,
// PromQL, templates), runs their unit tests, and checks the dashboard's
// queries as PromQL the same way.
func TestAlertRules(t *testing.T) {
	tool := promtool(t)
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", alertsFile)
	run("test", "rules", alertsTestFile)

	// The dashboard's queries, with Grafana's variables as Prometheus
	// would get them, as recording rules promtool parses.
	exprs := dashboardExprs(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "6h", "$__interval", "1m", "$instance", ".*")
	var rules []map[string]string
	for i, e := range exprs {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:query%d", i), "expr": vars.Replace(e)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", path)
}

// dashboardExprs returns every query of the dashboard's panels.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		Templating    struct {
			List []struct{ Name, Type, Query any }
		}
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var hasDatasource bool
	for _, v := range dash.Templating.List {
		hasDatasource = hasDatasource || (v.Type == "datasource" && v.Query == "prometheus")
	}
	if !hasDatasource || dash.SchemaVersion < 39 {
		t.Errorf("%s: want a Prometheus data source variable and a current schemaVersion; got %d", dashboardFile, dash.SchemaVersion)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("%s: panel %q has a target without a query", dashboardFile, p.Title)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// alertExprs returns every expression of the alerting rules.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var exprs []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// metricNames returns the twostep_ series names a PromQL expression
// reads: identifiers outside quoted strings (label values) that start
// with twostep_, as the exposition names them (a histogram's _bucket).
func metricNames(expr string) []string {
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			// A string: skip to its closing quote, past escapes.
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case isIdentStart(c):
			j := i
			for j < len(expr) && (isIdentStart(expr[j]) || expr[j] >= '0' && expr[j] <= '9') {
				j++
			}
			// $var and $__var are Grafana's, not metrics.
			if w := expr[i:j]; strings.HasPrefix(w, "twostep_") && (i == 0 || expr[i-1] != '$') {
				names = append(names, w)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{`rate(twostep_a_total{cause="twostep_not_a_metric"}[5m]) > 0`, []string{"twostep_a_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(twostep_b_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`, []string{"twostep_b_seconds_bucket"}},
		{`count(twostep_up == 0) or vector(0) / on(instance) twostep_c`, []string{"twostep_up", "twostep_c"}},
		{`sum(x{l='it\'s twostep_d'}) + $twostep_var`, nil},
	} {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q): got %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// TestMetricsExist runs two twostepd nodes as an operator would (LDAP,
// etcd, push to a webhook phone, the portal), makes every kind of series
// appear (logins accepted by push and rejected, a dropped packet, a
// portal page, a reload, the other node's clock), and checks that every
// metric the alerting rules and the dashboard read is on node 1's
// /metrics, and that no user name or password is.
func TestMetricsExist(t *testing.T) {
	slapd := ldaptest.Start(t)
	shared := t.TempDir()
	pwFile := filepath.Join(shared, "ldap-password")
	if err := os.WriteFile(pwFile, []byte(slapd.ServicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var pushPorts, portalPorts, urls []string
	for i := range 2 {
		p := freePort(t)
		pushPorts = append(pushPorts, fmt.Sprint(p))
		portalPorts = append(portalPorts, fmt.Sprint(freePort(t)))
		urls = append(urls, fmt.Sprintf("http://127.0.0.%d:%d", i+1, p))
	}
	n := startNodesExtra(t, nil, func(i int) string {
		return fmt.Sprintf(`directory:
  backend: ldap
  health_interval: 200ms
  ldap: {urls: [%q], bind_dn: %q, bind_password_file: %s, base_dn: %q, op_timeout: 2s}
push:
  listen: "127.0.0.%d:%s"
  urls: [%s]
portal:
  listen: "127.0.0.%d:%s"
  tls: {self_signed: true}
`, slapd.URL(), slapd.ServiceDN, pwFile, slapd.BaseDN, i+1, pushPorts[i], strings.Join(urls, ", "), i+1, portalPorts[i])
	}, "secure", "secure")

	// alice's phone: a webhook that the test answers for.
	secret := []byte("webhook secret of alice's phone")
	pc := &pushCluster{twoNodes: n, urls: urls, phone: pushtest.NewWebhook(t, secret)}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pc.key = portal.DeviceKey{Key: k}
	dev, err := cluster.NewPushDevice("phone", cluster.PushDevice{PublicKey: pc.key.PublicKey(), Kind: notify.KindWebhook, Endpoint: pc.phone.Target().Endpoint, Secret: secret}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.accounts.AddDevice(context.Background(), "alice", dev); err != nil {
		t.Fatal(err)
	}

	// A login approved on the phone (auto mode: the password alone pushes).
	password := ldaptest.Password("alice")
	got := make(chan answer, 1)
	go func() { got <- login(t, n.a.radius, "alice", password, nil) }()
	if _, status, err := pc.answer(t, pc.notification(t), cluster.PushApproved); err != nil || status != http.StatusOK {
		t.Fatalf("the phone's approval: %d, %v", status, err)
	}
	if a := <-got; a.code != radius.CodeAccessAccept {
		t.Fatalf("login with push: got %v %q, want Access-Accept\n%s", a.code, a.message, n.a.logText())
	}
	if a := login(t, n.a.radius, "alice", "wrong", nil); a.code != radius.CodeAccessReject {
		t.Fatalf("wrong password: got %v, want Access-Reject", a.code)
	}
	// A request without Message-Authenticator: dropped.
	p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(p, "alice")
	rfc2865.UserPassword_SetString(p, "x")
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", n.a.radius)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(raw)
	conn.Close()
	// A portal page.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%s/signin", portalPorts[0]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A reload.
	n.a.cmd.Process.Signal(syscall.SIGHUP)
	n.a.waitLog(t, `"message":"configuration reloaded"`)

	var exposition string
	scrape := func() string {
		resp, err := http.Get("http://" + n.a.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		exposition = string(b)
		return exposition
	}
	// The other node's offset appears once its record has come twice
	// (every cluster.NodeInterval); the drop once it is read.
	deadline := time.Now().Add(3*cluster.NodeInterval + 15*time.Second)
	for !strings.Contains(scrape(), `twostep_cluster_clock_offset_seconds{node="node-2"}`) ||
		!strings.Contains(exposition, `twostep_radius_packets_dropped_total{cause="missing_message_authenticator"}`) {
		if time.Now().After(deadline) {
			t.Fatalf("no clock offset to node-2 or no dropped packet on node-1's /metrics:\n%s", exposition)
		}
		time.Sleep(200 * time.Millisecond)
	}

	exported := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		exported[name] = true
	}
	for _, src := range []struct {
		file  string
		exprs []string
	}{{alertsFile, alertExprs(t)}, {dashboardFile, dashboardExprs(t)}} {
		checked := 0
		for _, e := range src.exprs {
			for _, name := range metricNames(e) {
				checked++
				if !exported[name] {
					t.Errorf("%s reads %s, which twostepd does not export (in %q)", src.file, name, e)
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: no twostep_ metric found in its queries", src.file)
		}
	}
	for _, secret := range []string{"alice", password, testSecret, slapd.ServicePassword} {
		if strings.Contains(exposition, secret) {
			t.Errorf("/metrics contains %q: no user name or secret belongs in a label", secret)
		}
	}
}
