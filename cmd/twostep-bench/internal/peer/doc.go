// Package peer starts the servers a benchmark run loads or leans on:
// FreeRADIUS, twostepd, slapd and etcd, each on loopback from a directory
// of the run's own, its configuration written from Go (templates and
// structs marshalled to YAML), and owned by its pid: paused while another
// target is loaded, resumed, and stopped when the run ends, also after a
// failure or Ctrl-C. slapd and etcd come from directory/ldaptest and
// cluster/etcdtest, the start-up the tests use.
//
// What it does not do is install anything: Missing lists the Debian
// packages a run needs and lacks, and scripts/bench.sh installs them.
package peer
