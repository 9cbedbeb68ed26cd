package embedded_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/cluster/embedded"
	"twostep/confcheck"
	"twostep/internal/leakcheck"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  embedded.Config
		want []string // "key: message" of every problem, in order
	}{
		{"defaults", embedded.Config{DataDir: "/var/lib/twostep/etcd"}, nil},
		{"many problems", embedded.Config{
			ClientURL: "https://127.0.0.1:0", PeerURL: "127.0.0.1:2380", KeyFile: "k.pem", ClientCAFile: "ca.pem",
		}, []string{
			"data_dir: required",
			`client_url: "https://127.0.0.1:0": want scheme://host:port with a fixed port`,
			"key_file: give cert_file too, or neither",
			"peer_url: not a URL (want scheme://host:port)",
		}},
		{"start timeout below a second", embedded.Config{DataDir: "d", StartTimeout: 500 * time.Millisecond}, []string{
			"start_timeout: at least 1s; got 500ms",
		}},
		{"https without certificate", embedded.Config{DataDir: "d", ClientURL: "https://127.0.0.1:2379"}, []string{
			"client_url: https:// needs cert_file and key_file",
		}},
		{"certificate on http", embedded.Config{DataDir: "d", CertFile: "c", KeyFile: "k"}, []string{
			`client_url: "http://127.0.0.1:2379" is http:// but cert_file is set; use https://`,
		}},
		{"client CA without TLS", embedded.Config{DataDir: "d", ClientCAFile: "ca.pem"}, []string{
			"client_ca_file: client certificates need TLS: give cert_file and key_file",
		}},
		{"credentials in a URL", embedded.Config{DataDir: "d", ClientURL: "http://root:hunter2@127.0.0.1:2379"}, []string{
			`client_url: "http://root:xxxxx@127.0.0.1:2379": a listen URL takes no credentials`,
		}},
		{"peer TLS on loopback", embedded.Config{
			DataDir: "d", PeerURL: "https://127.0.0.1:2380", PeerCertFile: "p.pem", PeerKeyFile: "pk.pem", PeerCAFile: "ca.pem",
		}, nil},
		{"peer problems", embedded.Config{DataDir: "d", PeerURL: "https://127.0.0.1:2380", PeerCertFile: "p.pem"}, []string{
			"peer_cert_file: give peer_key_file too, or neither",
		}},
		{"every address, both listeners", embedded.Config{
			DataDir: "d", ClientURL: "http://0.0.0.0:2379", PeerURL: "http://[::]:2380",
		}, []string{
			`client_url: "http://0.0.0.0:2379" listens off loopback without TLS and client certificates: anyone on the network could edit the cluster's records; use https:// with cert_file, key_file and client_ca_file, or a loopback address`,
			`peer_url: "http://[::]:2380" listens off loopback without TLS and peer certificates: anyone on the network could speak to etcd as a cluster member; use https:// with peer_cert_file, peer_key_file and peer_ca_file, or a loopback address`,
		}},
		{"https on every address", embedded.Config{
			DataDir: "d", ClientURL: "https://0.0.0.0:2379", CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem",
		}, []string{
			`client_url: "https://0.0.0.0:2379": clients, twostepd too, connect to this URL and check cert_file for its host, and no certificate names every address: give this host's address or a name in cert_file`,
		}},
		{"TLS and certificate authentication off loopback", embedded.Config{
			DataDir:   "d",
			ClientURL: "https://192.0.2.1:2379", CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem",
			PeerURL: "https://192.0.2.1:2380", PeerCertFile: "p.pem", PeerKeyFile: "pk.pem", PeerCAFile: "pca.pem",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var ps confcheck.Problems
			if err != nil && !errors.As(err, &ps) {
				t.Fatalf("got %T %v, want a confcheck.Problems", err, err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Field+": "+p.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestStartPortTaken(t *testing.T) {
	leakcheck.Check(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free.Close()
	_, err = embedded.Start(t.Context(), embedded.Config{
		DataDir: t.TempDir(), ClientURL: "http://" + taken.Addr().String(), PeerURL: "http://" + free.Addr().String(),
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start on a taken port: got %v, want address already in use", err)
	}
}

// TestStartDataDirTaken starts a second embedded etcd on the data
// directory of a running one (other ports): it fails at once, saying why,
// where etcd would wait for the database's lock for ever.
func TestStartDataDirTaken(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	port := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}
	first, err := embedded.Start(t.Context(), embedded.Config{DataDir: dir, ClientURL: port(), PeerURL: port()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = embedded.Start(ctx, embedded.Config{DataDir: dir, ClientURL: port(), PeerURL: port()})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") || ctx.Err() != nil {
		t.Fatalf("a second etcd on the data directory: got %v, want it refused at once as in use", err)
	}
}
