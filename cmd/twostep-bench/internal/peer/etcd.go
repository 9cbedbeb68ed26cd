package peer

import (
	"context"
	"os/exec"
	"regexp"

	"twostep/cluster/etcdtest"
)

// Etcd is the external store: Debian's etcd-server as a child process
// (etcdtest with a Binary), one member on free loopback ports, its data
// in the run's directory, compacted every hour as twostepd's embedded
// etcd is.
type Etcd struct {
	*etcdtest.Server
}

// StartEtcd starts etcd with its data and etcd.log under dir.
func StartEtcd(ctx context.Context, dir string) (*Etcd, error) {
	bin, err := Find("etcd")
	if err != nil {
		return nil, err
	}
	s, err := etcdtest.StartServer(ctx, etcdtest.Options{Dir: dir, Binary: bin})
	if err != nil {
		return nil, err
	}
	return &Etcd{s}, nil
}

// URL is the client URL.
func (e *Etcd) URL() string { return e.Endpoints()[0] }

var etcdVersion = regexp.MustCompile(`(?m)^etcd Version: (\S+)`)

// EtcdVersion is what etcd --version says of itself, or "".
func EtcdVersion() string {
	bin, err := Find("etcd")
	if err != nil {
		return ""
	}
	out, _ := exec.Command(bin, "--version").Output()
	if m := etcdVersion.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}
