#!/usr/bin/env bash
# scripts/bench.sh (make bench): installs the Debian packages the
# benchmark's scenarios need, then runs them with bin/twostep-bench run,
# which owns everything else: the servers' configurations, ports and
# processes, the load, the tables and verdicts, and docs/BENCHMARKS.md.
#
# Arguments go to twostep-bench run (bin/twostep-bench run -h lists them),
# and so do the BENCH_* variables it has always read, e.g.
#   BENCH_SCENARIOS="file ldap" scripts/bench.sh
# Packages are installed with apt-get when running as root; otherwise the
# script stops and prints the command.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bench=bin/twostep-bench
[[ -x $bench && -x bin/twostepd ]] || { echo "bench: bin/twostep-bench and bin/twostepd are missing; run make bench" >&2; exit 1; }

mapfile -t missing < <("$bench" run -missing "$@")
if (( ${#missing[@]} )); then
	install=(apt-get install -y --no-install-recommends "${missing[@]}")
	(( EUID == 0 )) || { echo "bench: missing ${missing[*]}; run as root: ${install[*]}" >&2; exit 1; }
	echo "==> installing ${missing[*]}: ${install[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Without starting the packages' system daemons (slapd on :389, etcd
	# on :2379): every server of the benchmark runs from its temp dir.
	made_policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
	fi
	trap '[[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d' EXIT
	"${install[@]}" >/dev/null || { apt-get update >/dev/null && "${install[@]}" >/dev/null; }
	[[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
	trap - EXIT
fi
exec "$bench" run "$@"
