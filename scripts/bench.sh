#!/usr/bin/env bash
# scripts/bench.sh (make bench): twostepd against FreeRADIUS 3.2 under the
# same load, in the same run, with the same users and password hashes.
#
# It installs Debian's freeradius and freeradius-utils when missing (as
# root), generates users with {SSHA512} hashes, starts a private FreeRADIUS
# (PAP against the files module) and twostepd (file directory backend) on
# loopback, checks that both answer and both drop unsigned requests, then
# loads each with bin/twostep-bench at every concurrency, one after the
# other, the idle ones paused with SIGSTOP. It prints a side-by-side table
# with the ratio twostepd/FreeRADIUS and the settings, writes the same into
# docs/BENCHMARKS.md (unless a run failed or other work disturbed it), and
# stops everything it started, also on Ctrl-C.
#
# The ldap scenario (BENCH_SCENARIOS) then checks the same passwords against
# a private slapd (scripts/bench-slapd.sh, the same {SSHA512} hashes as
# userPassword): FreeRADIUS with rlm_ldap (scripts/bench-freeradius-ldap.sh;
# Debian's freeradius-ldap is installed when missing), twostepd with its
# ldap backend without and with the DN cache, and the ceilings slapd allows
# (twostep-bench ldap: search+bind, and bind only), into its own section.
#
# The 2fa scenario measures the second factor (TOTP passcodes) against the
# password alone, with its own users in the same slapd and their devices
# in an external etcd (Debian's etcd-server, installed when missing):
# twostepd with the ldap backend and its DN cache, password only (policy
# exempt), append mode ("password,123456") and challenge mode (password,
# then the passcode in answer to an Access-Challenge); beside them the
# ceilings etcd allows (twostep-bench etcd: the store operations of one
# login) and slapd allows, all at BENCH_LDAP_CONCURRENCY, into its own
# section with the ratios to the password-only row against the 80 % target.
#
# Every twostepd config has a seed key file and a cluster section: the
# file and ldap scenarios' twostepd run their embedded etcd (on free ports,
# data in the temp dir) and exempt everyone from the second factor
# (policy default exempt), so that they keep measuring the password path.
#
# Settings (environment):
#   BENCH_SCENARIOS="file ldap 2fa push"  which scenarios to run
#   BENCH_PUSH_PENDING=5000    push scenario: logins waiting for a push at once
#   BENCH_PUSH_RATE=250        push scenario: approvals per second
#   BENCH_PORTAL_USERS=2000    portal scenario: users signing in
#   BENCH_USERS=1000           users generated and rotated through
#   BENCH_CONCURRENCY="32 64"  simulated NASes, one request in flight each
#   BENCH_DURATION=15s         measured phase per run, after BENCH_WARMUP=2s
#   BENCH_ROUNDS=1             runs per server and concurrency, interleaved
#   BENCH_FR_THREADS=$(nproc)  FreeRADIUS worker threads (fixed pool)
#   BENCH_TS_WORKERS=256       twostepd radius.workers
#   BENCH_SERVERS="freeradius twostepd"
#   BENCH_CEILING=1            also load twostep-bench serve (the generator's ceiling)
#   BENCH_OUT=docs/BENCHMARKS.md  where the results go ("-" for nowhere)
#   BENCH_KEEP=0               1 keeps the temp dir (configs, logs, JSON)
#   BENCH_RETRIES=1            reruns of a run during which other work took over 0.25 cores
#   BENCH_FORCE=0              1 writes BENCH_OUT even when other work disturbed the runs
# The ldap scenario (the same users, BENCH_DURATION, BENCH_WARMUP, BENCH_RETRIES):
#   BENCH_LDAP_CONCURRENCY=32  simulated NASes, and LDAP workers for the ceilings
#   BENCH_FR_LDAP_THREADS=16   FreeRADIUS worker threads (each blocks on LDAP)
#   BENCH_FR_LDAP_POOL=16      rlm_ldap connections (start = min = max)
#   BENCH_TS_LDAP_POOL=16      twostepd search_pool_size and bind_pool_size
#   BENCH_TS_LDAP_CACHE=5m     twostepd cache_ttl of the DN-cache run
# The 2fa scenario (BENCH_LDAP_CONCURRENCY, BENCH_TS_LDAP_POOL,
# BENCH_TS_LDAP_CACHE, BENCH_DURATION, BENCH_WARMUP, BENCH_RETRIES):
#   BENCH_2FA_USERS=15000      its users, each with BENCH_2FA_DEVICES TOTP devices;
#   BENCH_2FA_DEVICES=3        a device takes a step's code once, so a 30 s step
#                              allows USERS x DEVICES logins (when a run needs
#                              more, the generator waits and the table says so)
set -euo pipefail
export LC_ALL=C # numbers with a decimal point, whatever the locale

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
users=${BENCH_USERS:-1000}
concurrency=${BENCH_CONCURRENCY:-32 64}
duration=${BENCH_DURATION:-15s}
warmup=${BENCH_WARMUP:-2s}
rounds=${BENCH_ROUNDS:-1}
fr_threads=${BENCH_FR_THREADS:-$(nproc)}
ts_workers=${BENCH_TS_WORKERS:-256}
servers=${BENCH_SERVERS:-freeradius twostepd}
scenarios=${BENCH_SCENARIOS:-file ldap 2fa push portal}
portal_users=${BENCH_PORTAL_USERS:-2000}
push_pending=${BENCH_PUSH_PENDING:-5000}
push_rate=${BENCH_PUSH_RATE:-250}
users_2fa=${BENCH_2FA_USERS:-15000}
devices_2fa=${BENCH_2FA_DEVICES:-3}
ldap_concurrency=${BENCH_LDAP_CONCURRENCY:-32}
fr_ldap_threads=${BENCH_FR_LDAP_THREADS:-16}
fr_ldap_pool=${BENCH_FR_LDAP_POOL:-16}
ts_ldap_pool=${BENCH_TS_LDAP_POOL:-16}
ts_ldap_cache=${BENCH_TS_LDAP_CACHE:-5m}
ceiling=${BENCH_CEILING:-1}
out=${BENCH_OUT:-$root/docs/BENCHMARKS.md}
keep=${BENCH_KEEP:-0}
retries=${BENCH_RETRIES:-1}
max_other=0.25 # cores; twostep-bench compare flags runs above it as disturbed

bench=$root/bin/twostep-bench
twostepd=$root/bin/twostepd
twostepctl=$root/bin/twostepctl

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- cleanup: every process we start is in pids; stop them by pid --------
pids=()
tmp=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true # a paused process must run to die of TERM
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $tmp && -d $tmp ]]; then
		if (( rc != 0 )); then
			local f
			for f in "$tmp"/*.log; do
				[[ -s $f ]] || continue
				printf -- '--- last lines of %s\n' "${f##*/}" >&2
				tail -n 15 "$f" >&2
			done
		fi
		if [[ $keep == 1 ]]; then
			say "kept $tmp"
		else
			rm -rf "$tmp"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- tools ---------------------------------------------------------------
for s in $scenarios; do
	case $s in
	file | ldap | 2fa | push | portal) ;;
	*) die "unknown scenario in BENCH_SCENARIOS: $s (want file, ldap, 2fa, push, portal)" ;;
	esac
done
want_file=0 want_ldap=0 want_2fa=0 want_push=0 want_portal=0
[[ " $scenarios " == *" file "* ]] && want_file=1
[[ " $scenarios " == *" ldap "* ]] && want_ldap=1
[[ " $scenarios " == *" 2fa "* ]] && want_2fa=1
[[ " $scenarios " == *" push "* ]] && want_push=1
[[ " $scenarios " == *" portal "* ]] && want_portal=1

# install PACKAGE...: apt-get as root, without starting the packages'
# system daemons (slapd on :389, etcd on :2379): every server here is
# started from the temp dir on free ports and stopped by pid.
install() {
	local install_cmd="apt-get install -y --no-install-recommends $*"
	(( EUID == 0 )) || die "missing $*; run as root: $install_cmd"
	say "installing $*: $install_cmd"
	export DEBIAN_FRONTEND=noninteractive
	local made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
	fi
	local rc=0
	if ! $install_cmd >/dev/null; then
		apt-get update >/dev/null
		$install_cmd >/dev/null || rc=$?
	fi
	(( made_policy )) && rm -f /usr/sbin/policy-rc.d
	(( rc == 0 )) || die "apt-get install $* failed"
}
missing=()
freeradius_bin=$(PATH=$PATH:/usr/sbin command -v freeradius || true)
if (( want_file || want_ldap )); then
	[[ -n $freeradius_bin ]] || missing+=(freeradius)
	command -v radclient >/dev/null || missing+=(freeradius-utils)
fi
if (( want_ldap )); then
	[[ -e /usr/lib/freeradius/rlm_ldap.so ]] || missing+=(freeradius-ldap)
fi
if (( want_ldap || want_2fa )); then
	[[ -x /usr/sbin/slapd && -x /usr/sbin/slappasswd ]] || missing+=(slapd)
	[[ -e /usr/lib/ldap/pw-sha2.so ]] || missing+=(slapd) # pw-sha2: {SSHA512}
	command -v ldapsearch >/dev/null || missing+=(ldap-utils)
fi
if (( want_2fa || want_push || want_portal )); then
	command -v etcd >/dev/null || missing+=(etcd-server)
fi
if (( ${#missing[@]} )); then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	install "${missing[@]}"
	freeradius_bin=$(PATH=$PATH:/usr/sbin command -v freeradius || true)
fi
fr_version=
if (( want_file || want_ldap )); then
	fr_version=$("$freeradius_bin" -v 2>/dev/null | sed -n 's/.*FreeRADIUS Version \([0-9.]*\).*/\1/p' | head -n 1)
	[[ $fr_version == 3.* ]] || die "want FreeRADIUS 3.x, found '${fr_version:-unknown}' at $freeradius_bin"
fi

need=(twostep-bench twostepd twostepctl)
for b in "${need[@]}"; do
	if [[ ! -x $root/bin/$b ]]; then
		say "building bin/$b"
		(cd "$root" && go build -o "bin/$b" "./cmd/$b")
	fi
done

# --- temp dir, ports, users ----------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/twostep-bench.XXXXXX")
mkdir "$tmp/results"
# Run copies of the binaries: a `make build` elsewhere during the runs
# (another checkout's tests, an editor) must not mix two versions in one
# table.
mkdir "$tmp/bin"
for b in "${need[@]}"; do cp "$root/bin/$b" "$tmp/bin/"; done
bench=$tmp/bin/twostep-bench twostepd=$tmp/bin/twostepd twostepctl=$tmp/bin/twostepctl

# Ports handed out, in a file: pick_port runs in $(...) subshells, whose
# variables the script never sees.
: >"$tmp/ports"
# port_free reports whether nothing listens on port, UDP or TCP, v4 or v6.
port_free() {
	local hex
	hex=$(printf ':%04X' "$1")
	! awk -v h="$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
		/proc/net/udp /proc/net/udp6 /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
pick_port() {
	local p
	for _ in $(seq 200); do
		p=$(( 20000 + RANDOM % 40000 ))
		grep -qx "$p" "$tmp/ports" && continue
		if port_free "$p"; then
			echo "$p" >>"$tmp/ports"
			echo "$p"
			return
		fi
	done
	die "no free port found"
}
fr_port=$(pick_port); ts_port=$(pick_port); ts_metrics=$(pick_port); null_port=$(pick_port)
secret="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" # 29 characters

ldap_base=dc=bench,dc=example
"$bench" users -n "$users" -dir "$tmp" -ldap-base "ou=people,$ldap_base" >/dev/null
first_user=$(head -n 1 "$tmp/bench-users.txt")
user1=${first_user%%:*} pass1=${first_user#*:}
if (( want_2fa )); then
	# The 2fa scenario's own users (names mfa...), in the same slapd.
	mkdir "$tmp/2fa"
	"$bench" users -n "$users_2fa" -dir "$tmp/2fa" -prefix mfa -ldap-base "ou=people,$ldap_base" >/dev/null
fi
# Every twostepd needs a seed key file (cluster.seed_keys), even when
# nobody has a device.
"$twostepctl" keygen -out "$tmp/seed.key" >/dev/null 2>&1 || die "twostepctl keygen failed"

# radclient_check LABEL PORT: a signed request must be accepted, an
# unsigned one dropped (both servers require Message-Authenticator).
radclient_check() {
	local label=$1 port=$2
	printf 'User-Name = "%s"\nUser-Password = "%s"\nMessage-Authenticator = 0x00\n' "$user1" "$pass1" |
		radclient -q -r 2 -t 3 "127.0.0.1:$port" auth "$secret" ||
		die "$label: radclient got no Access-Accept for $user1"
	if printf 'User-Name = "%s"\nUser-Password = "%s"\n' "$user1" "$pass1" |
		radclient -q -r 1 -t 1 "127.0.0.1:$port" auth "$secret" >/dev/null 2>&1; then
		die "$label: answered a request without Message-Authenticator"
	fi
	"$bench" -server "127.0.0.1:$port" -secret "$secret" -users "$tmp/bench-users.txt" \
		-concurrency 2 -warmup 0s -requests 50 -duration 10s -expect accept >/dev/null ||
		die "$label: twostep-bench smoke test failed"
}

declare -A port_of pid_of

# --- FreeRADIUS ------------------------------------------------------------
start_freeradius() {
	"$root/scripts/bench-freeradius.sh" "$tmp/raddb" "$fr_port" "$secret" "$tmp/freeradius-authorize" "$fr_threads"
	"$freeradius_bin" -f -l stdout -d "$tmp/raddb" >"$tmp/freeradius.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 150); do
		grep -q 'Ready to process requests' "$tmp/freeradius.log" && break
		kill -0 "$pid" 2>/dev/null || die "freeradius exited at start"
		sleep 0.1
	done
	grep -q 'Ready to process requests' "$tmp/freeradius.log" || die "freeradius not ready after 15s"
	radclient_check freeradius "$fr_port"
	port_of[freeradius]=$fr_port pid_of[freeradius]=$pid
}

# --- twostepd --------------------------------------------------------------
# cluster_embedded LABEL: the cluster section of a twostepd that runs its
# own etcd (the default) on free ports, its data in the temp dir.
cluster_embedded() {
	printf 'cluster:\n  embedded:\n    data_dir: etcd-%s\n    client_url: http://127.0.0.1:%s\n    peer_url: http://127.0.0.1:%s\n  seed_keys: seed.key\n' \
		"$1" "$(pick_port)" "$(pick_port)"
}
http_ok() { # http_ok PORT PATH: true when the answer is 200
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
		IFS= read -r -t 2 line <&3 && [[ $line == *" 200 "* ]]
	) 2>/dev/null
}
start_twostepd() {
	cat >"$tmp/twostepd.yaml" <<-YAML
	log:
	  level: warn
	radius:
	  listen: ["127.0.0.1:$ts_port"]
	  workers: $ts_workers
	  duplicate_ttl: 10s
	clients:
	  - name: bench
	    networks: ["127.0.0.1/32"]
	    secret: "$secret"
	    require_message_authenticator: true
	directory:
	  backend: file
	  file:
	    path: twostep-users.yaml
	policy:
	  default: exempt
	metrics:
	  listen: "127.0.0.1:$ts_metrics"
	YAML
	cluster_embedded twostepd >>"$tmp/twostepd.yaml"
	run_twostepd twostepd "$ts_port" "$ts_metrics"
}

# --- the generator's ceiling: a responder that accepts at once -------------
start_ceiling() {
	"$bench" serve -listen "127.0.0.1:$null_port" -secret "$secret" -for 30m >"$tmp/ceiling.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 50); do
		grep -q 'listening on' "$tmp/ceiling.log" && break
		sleep 0.1
	done
	grep -q 'listening on' "$tmp/ceiling.log" || die "twostep-bench serve did not start"
	port_of[ceiling]=$null_port pid_of[ceiling]=$pid
}

# --- the LDAP and 2fa scenarios' servers ---------------------------------------
ldap_port='' slapd_pid=0
svc_dn="cn=twostep,ou=services,$ldap_base"
slapd_version=$(/usr/sbin/slapd -VV 2>&1 | sed -n 's/.*slapd \([0-9.]*\).*/\1/p' | head -n 1 || true)
# start_slapd: one slapd for the ldap and 2fa scenarios, each with its own
# users; started once.
start_slapd() {
	(( slapd_pid )) && return
	local ldifs=() check=$user1
	(( want_ldap )) && ldifs+=("$tmp/ldap-users.ldif")
	if (( want_2fa )); then
		ldifs+=("$tmp/2fa/ldap-users.ldif")
		(( want_ldap )) || check=$(head -n 1 "$tmp/2fa/bench-users.txt" | cut -d: -f1)
	fi
	say "starting slapd $slapd_version on 127.0.0.1 with $(( want_ldap ? users : 0 )) + $(( want_2fa ? users_2fa : 0 )) users"
	ldap_port=$(pick_port)
	printf '%s' "svc-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" >"$tmp/ldap-service.pw"
	chmod 600 "$tmp/ldap-service.pw"
	"$root/scripts/bench-slapd.sh" "$tmp/slapd" "$ldap_base" "$tmp/ldap-service.pw" "${ldifs[@]}"
	/usr/sbin/slapd -d 0 -F "$tmp/slapd/slapd.d" -h "ldap://127.0.0.1:$ldap_port/" >"$tmp/slapd.log" 2>&1 &
	slapd_pid=$!
	pids+=("$slapd_pid")
	# Ready once an authenticated search finds the first user.
	for _ in $(seq 100); do
		ldapsearch -x -LLL -H "ldap://127.0.0.1:$ldap_port" -D "$svc_dn" -y "$tmp/ldap-service.pw" \
			-b "$ldap_base" "(uid=$check)" dn 2>/dev/null | grep -q "^dn: uid=$check," && return
		kill -0 "$slapd_pid" 2>/dev/null || die "slapd exited at start"
		sleep 0.1
	done
	die "slapd not ready after 10s"
}
# start_etcd: the 2fa scenario's external etcd (Debian's etcd-server), one
# member on free loopback ports, its data in the temp dir; compacted as
# twostepd's embedded etcd is (periodic, 1 h).
ceiling_prefix=/twostep-ceiling/
start_etcd() {
	local client peer
	client=$(pick_port) peer=$(pick_port)
	etcd_url=http://127.0.0.1:$client
	etcd --name bench --data-dir "$tmp/etcd" \
		--listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "bench=http://127.0.0.1:$peer" \
		--auto-compaction-mode periodic --auto-compaction-retention 1h \
		--logger zap --log-outputs stderr --log-level warn >"$tmp/etcd.log" 2>&1 &
	etcd_pid=$!
	pids+=("$etcd_pid")
	for _ in $(seq 100); do
		http_ok "$client" /health && return
		kill -0 "$etcd_pid" 2>/dev/null || die "etcd exited at start"
		sleep 0.1
	done
	die "etcd not ready after 10s"
}
# start_twostepd_2fa LABEL POLICY: twostepd with the ldap backend and its
# DN cache, on the external etcd. Two clients: 127.0.0.1 in append mode,
# 127.0.0.2 in challenge mode (twostep-bench -source 127.0.0.2).
start_twostepd_2fa() {
	local label=$1 policy=$2 port metrics
	port=$(pick_port) metrics=$(pick_port)
	cat >"$tmp/$label.yaml" <<-YAML
	log:
	  level: warn
	radius:
	  listen: ["127.0.0.1:$port"]
	  workers: $ts_workers
	  duplicate_ttl: 10s
	clients:
	  - name: bench-append
	    networks: ["127.0.0.1/32"]
	    secret: "$secret"
	    require_message_authenticator: true
	    mode: append
	  - name: bench-challenge
	    networks: ["127.0.0.2/32"]
	    secret: "$secret"
	    require_message_authenticator: true
	    mode: challenge
	directory:
	  backend: ldap
	  ldap:
	    urls: ["ldap://127.0.0.1:$ldap_port"]
	    bind_dn: "$svc_dn"
	    bind_password_file: ldap-service.pw
	    base_dn: "$ldap_base"
	    user_filter: "(&(objectClass=inetOrgPerson)(uid=%s))"
	    group_search: false
	    search_pool_size: $ts_ldap_pool
	    bind_pool_size: $ts_ldap_pool
	    cache_ttl: $ts_ldap_cache
	    cache_size: $(( users_2fa + 1000 ))
	cluster:
	  endpoints: ["$etcd_url"]
	  seed_keys: seed.key
	policy:
	  default: $policy
	metrics:
	  listen: "127.0.0.1:$metrics"
	YAML
	run_twostepd "$label" "$port" "$metrics" nocheck
}
start_freeradius_ldap() {
	local port
	port=$(pick_port)
	"$root/scripts/bench-freeradius-ldap.sh" "$tmp/raddb-ldap" "$port" "$secret" "$fr_ldap_threads" \
		"$ldap_port" "$ldap_base" "$svc_dn" "$tmp/ldap-service.pw" "$fr_ldap_pool"
	"$freeradius_bin" -f -l stdout -d "$tmp/raddb-ldap" >"$tmp/freeradius-ldap.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 150); do
		grep -q 'Ready to process requests' "$tmp/freeradius-ldap.log" && break
		kill -0 "$pid" 2>/dev/null || die "freeradius (ldap) exited at start"
		sleep 0.1
	done
	grep -q 'Ready to process requests' "$tmp/freeradius-ldap.log" || die "freeradius (ldap) not ready after 15s"
	radclient_check freeradius-ldap "$port"
	port_of[freeradius-ldap]=$port pid_of[freeradius-ldap]=$pid
}
# start_twostepd_ldap LABEL CACHE_TTL
start_twostepd_ldap() {
	local label=$1 ttl=$2 port metrics
	port=$(pick_port) metrics=$(pick_port)
	cat >"$tmp/$label.yaml" <<-YAML
	log:
	  level: warn
	radius:
	  listen: ["127.0.0.1:$port"]
	  workers: $ts_workers
	  duplicate_ttl: 10s
	clients:
	  - name: bench
	    networks: ["127.0.0.1/32"]
	    secret: "$secret"
	    require_message_authenticator: true
	directory:
	  backend: ldap
	  ldap:
	    urls: ["ldap://127.0.0.1:$ldap_port"]
	    bind_dn: "$svc_dn"
	    bind_password_file: ldap-service.pw
	    base_dn: "$ldap_base"
	    user_filter: "(&(objectClass=inetOrgPerson)(uid=%s))"
	    group_search: false
	    search_pool_size: $ts_ldap_pool
	    bind_pool_size: $ts_ldap_pool
	    cache_ttl: $ttl
	policy:
	  default: exempt
	metrics:
	  listen: "127.0.0.1:$metrics"
	YAML
	cluster_embedded "$label" >>"$tmp/$label.yaml"
	run_twostepd "$label" "$port" "$metrics"
}

# run_twostepd LABEL PORT METRICS [nocheck]: checks and starts twostepd on
# $tmp/LABEL.yaml, waits for /readyz and (unless nocheck) an answer to a
# password alone, and records it.
run_twostepd() {
	local label=$1 port=$2 metrics=$3 check=${4:-check}
	"$twostepd" -config "$tmp/$label.yaml" -check >"$tmp/$label.log" 2>&1 || die "twostepd -check refused the generated config $label.yaml"
	"$twostepd" -config "$tmp/$label.yaml" >"$tmp/$label.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 150); do
		http_ok "$metrics" /readyz && break
		kill -0 "$pid" 2>/dev/null || die "twostepd ($label) exited at start"
		sleep 0.1
	done
	http_ok "$metrics" /readyz || die "twostepd ($label) not ready after 15s"
	[[ $check == nocheck ]] || radclient_check "$label" "$port"
	port_of[$label]=$port pid_of[$label]=$pid
}

# --- the runs ---------------------------------------------------------------
# Only the target under load runs; the others are paused so that their
# timers and cleanup (FreeRADIUS keeps every request for cleanup_delay,
# twostepd its duplicate cache) cannot take CPU from it. slapd and the
# external etcd, which targets share, are never paused.
targets=()
etcd_pid=0
shared() { [[ $1 == "$slapd_pid" || $1 == "$etcd_pid" ]]; }
pause_all() {
	local t
	for t in "${targets[@]}"; do
		shared "${pid_of[$t]}" || kill -STOP "${pid_of[$t]}"
	done
}
resume() { kill -CONT "${pid_of[$1]}"; }
# stop_targets: the scenario's servers are done with; stop them so that
# they take nothing from the next scenario.
stop_targets() {
	local t
	for t in "${targets[@]}"; do
		shared "${pid_of[$t]}" && continue
		kill -TERM "${pid_of[$t]}" 2>/dev/null || true
		kill -CONT "${pid_of[$t]}" 2>/dev/null || true
		wait "${pid_of[$t]}" 2>/dev/null || true
	done
	targets=()
}

# Other work on the machine skews every figure: sample it before the runs
# (each run measures it too, in the "other cores" column).
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
b0=$(busy_ticks); sleep 2; b1=$(busy_ticks)
idle_busy=$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.2f", (b - a) / 100 / 2 }')
if awk -v o="$idle_busy" -v m="$max_other" 'BEGIN { exit !(o > m) }'; then
	say "other work takes $idle_busy cores before the runs: figures may be disturbed"
fi

declare -A ldap_mode_of # directory ceilings: their twostep-bench ldap -mode
declare -A etcd_ops_of  # store ceilings (2fa scenario): their twostep-bench etcd -ops
declare -A extra_of     # RADIUS targets: more generator flags (2fa: -login, -devices, ...)
load_users=$tmp/bench-users.txt # the users of the scenario running
etcd_url=''
results=()
failed=0
# measure TARGET CONCURRENCY FILE: one run of the generator, its JSON in FILE.
measure() {
	local t=$1 c=$2 f=$3 rc=0
	pause_all
	resume "$t"
	# In the background so that a signal to this script is acted on at
	# once (bash runs traps only between foreground commands).
	if [[ -n ${ldap_mode_of[$t]:-} ]]; then
		"$bench" ldap -url "ldap://127.0.0.1:$ldap_port" -bind-dn "$svc_dn" -bind-password-file "$tmp/ldap-service.pw" \
			-base-dn "$ldap_base" -filter "(&(objectClass=inetOrgPerson)(uid=%s))" -mode "${ldap_mode_of[$t]}" \
			-users "$load_users" -concurrency "$c" -duration "$duration" -warmup "$warmup" \
			-label "$t" -server-pid "$slapd_pid" -json >"$f" &
	elif [[ -n ${etcd_ops_of[$t]:-} ]]; then
		"$bench" etcd -endpoints "$etcd_url" -prefix "$ceiling_prefix" -seed-keys "$tmp/seed.key" \
			-users "$load_users" -ops "${etcd_ops_of[$t]}" -concurrency "$c" -duration "$duration" -warmup "$warmup" \
			-label "$t" -server-pid "$etcd_pid" -json >"$f" &
	else
		local more=() extra=()
		(( slapd_pid )) && more+=(-directory-pid "$slapd_pid")
		(( etcd_pid )) && more+=(-store-pid "$etcd_pid")
		[[ -n ${extra_of[$t]:-} ]] && read -ra extra <<<"${extra_of[$t]}" && more+=("${extra[@]}")
		"$bench" -server "127.0.0.1:${port_of[$t]}" -secret "$secret" -users "$load_users" \
			-concurrency "$c" -duration "$duration" -warmup "$warmup" -label "$t" \
			-server-pid "${pid_of[$t]}" "${more[@]}" -expect accept -json >"$f" &
	fi
	pids+=("$!")
	wait "$!" || rc=$?
	unset 'pids[-1]'
	case $rc in
	0 | 1) ;; # 1: not every request was accepted; judged on the run kept
	130) exit 130 ;; # Ctrl-C: the generator stopped, so do we
	*) die "twostep-bench failed (exit status $rc)" ;;
	esac
}
# json_field FILE NAME: a number from the generator's JSON.
json_field() { sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | head -n 1; }
other_cores() { json_field "$1" other_cores; }

# run_all CONCURRENCIES: every target at every concurrency, into results.
run_all() {
	local c r t f a other req
	results=()
	for c in $1; do
		for r in $(seq "$rounds"); do
			for t in "${targets[@]}"; do
				[[ $t == ceiling* && $r -gt 1 ]] && continue
				f="$tmp/results/c$c-$t-$r.json"
				say "$t: concurrency $c, round $r/$rounds: $warmup warm-up + $duration"
				measure "$t" "$c" "$f"
				# On a shared machine, other work can take a core in the
				# middle of a run: run again, keep the least disturbed.
				for a in $(seq "$retries"); do
					other=$(other_cores "$f")
					awk -v o="${other:-0}" -v m="$max_other" 'BEGIN { exit !(o > m) }' || break
					say "$t: other work took $(printf '%.2f' "$other") cores; again ($a/$retries)"
					measure "$t" "$c" "$f.again"
					if awk -v a="$(other_cores "$f.again")" -v b="$other" 'BEGIN { exit !(a < b) }'; then
						mv "$f.again" "$f"
					fi
				done
				req=$(json_field "$f" logins)
				if [[ -z $req || $req == 0 || $(json_field "$f" accepts) != "$req" ]]; then
					say "$t at concurrency $c: not every request was accepted; see the table"
					failed=1
				fi
				results+=("$f")
			done
		done
	done
}

# write_section BEGIN END TABLE: TABLE between the BEGIN and END marker
# lines of $out (appended with its markers when they are missing).
# jfield FILE KEY: a number field of a scenario's -json output.
jfield() { sed -n "s/^ *\"$2\": \([0-9.]*\),\{0,1\}$/\1/p" "$1" | head -n 1; }
# jnum FILE KEY DIGITS: a field rounded for the table
jnum() { awk -v v="$(jfield "$1" "$2")" -v d="$3" 'BEGIN { printf "%.*f", d, v }'; }

write_section() {
	local begin=$1 end=$2 table=$3
	[[ $out == - ]] && return
	printf '%s\n' "$table" >"$tmp/table.md"
	if [[ -f $out ]] && grep -qF "$begin" "$out" && grep -qF "$end" "$out"; then
		awk -v b="$begin" -v e="$end" -v t="$tmp/table.md" '
			$0 == b { print; while ((getline l < t) > 0) print l; close(t); skip = 1; next }
			$0 == e { skip = 0 }
			!skip { print }' "$out" >"$tmp/out.md"
		cat "$tmp/out.md" >"$out"
	elif [[ -f $out ]]; then
		printf '\n%s\n%s\n%s\n' "$begin" "$table" "$end" >>"$out"
	else
		# shellcheck disable=SC2016 # the backquotes are Markdown
		printf '# Benchmarks\n\nWritten by `make bench` (scripts/bench.sh).\n\n%s\n%s\n%s\n' "$begin" "$table" "$end" >"$out"
	fi
	say "results written to ${out#"$root"/}"
}
# check_table NAME TABLE: whether TABLE may be written (every request
# accepted, no disturbed run, unless BENCH_FORCE).
check_table() {
	if (( failed )); then
		say "$1: some runs had requests that were not accepted; $out left as it was"
		return 1
	fi
	if [[ $2 == *'**Disturbed**'* && ${BENCH_FORCE:-0} != 1 ]]; then
		say "$1: other work took CPU during the runs (see Disturbed above); $out left as it was: rerun on a quiet machine, or with BENCH_FORCE=1 to write it anyway"
		return 1
	fi
}
machine_note() {
	printf 'Run %s, Linux %s, %s, %s cores busy with other work just before the runs' \
		"$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -r)" \
		"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$idle_busy"
}
ts_version=$("$twostepd" -version 2>/dev/null | awk '{ print $2 }' || true)
go_version=$(go env GOVERSION 2>/dev/null || echo 'Go ?')
status=0

# --- scenario: file ------------------------------------------------------------
if (( want_file )); then
	for s in $servers; do
		case $s in
		freeradius) say "starting FreeRADIUS $fr_version on 127.0.0.1:$fr_port ($fr_threads threads)"; start_freeradius ;;
		twostepd) say "starting twostepd on 127.0.0.1:$ts_port ($ts_workers workers)"; start_twostepd ;;
		*) die "unknown server in BENCH_SERVERS: $s" ;;
		esac
		targets+=("$s")
	done
	if [[ $ceiling == 1 ]]; then
		start_ceiling
		targets+=(ceiling)
	fi
	run_all "$concurrency"
	stop_targets

	notes=(-setting "Password hash: {SSHA512} (SHA-512 over password and a 16-byte salt), the same $users hashes in both servers")
	if [[ -n ${pid_of[freeradius]:-} ]]; then
		notes+=(-setting "FreeRADIUS $fr_version (Debian): PAP against the files module, a site cut down to files + pap, thread pool $fr_threads (start = max = spare), max_requests 1048576, cleanup_delay 5 s, Message-Authenticator required of the client and added to every answer")
	fi
	if [[ -n ${pid_of[twostepd]:-} ]]; then
		notes+=(-setting "twostepd $ts_version: file directory backend, radius.workers $ts_workers, duplicate_ttl 10s, log level warn, $go_version")
	fi
	notes+=(
		-setting "Each target loaded alone, the others paused (SIGSTOP); ceiling = twostep-bench serve, a responder that checks the Message-Authenticator and accepts at once: the most this generator can drive on this machine"
		-setting "$(machine_note)"
	)
	table=$("$bench" compare -ratio twostepd/freeradius "${notes[@]}" "${results[@]}")
	printf '\n%s\n\n' "$table"
	if check_table file "$table"; then
		write_section '<!-- bench:results:begin -->' '<!-- bench:results:end -->' "$table"
	else
		status=1
	fi
	failed=0
fi

# --- scenario: ldap ------------------------------------------------------------
if (( want_ldap )); then
	start_slapd
	say "slapd on 127.0.0.1:$ldap_port; starting FreeRADIUS with rlm_ldap ($fr_ldap_threads threads, $fr_ldap_pool connections)"
	start_freeradius_ldap
	say "starting twostepd with the ldap backend (pools $ts_ldap_pool + $ts_ldap_pool; no cache, then cache_ttl $ts_ldap_cache)"
	start_twostepd_ldap twostepd-ldap 0s
	start_twostepd_ldap twostepd-ldap-cache "$ts_ldap_cache"
	port_of[ceiling-search+bind]=$ldap_port pid_of[ceiling-search+bind]=$slapd_pid
	port_of[ceiling-bind]=$ldap_port pid_of[ceiling-bind]=$slapd_pid
	ldap_mode_of[ceiling-search+bind]=search+bind
	ldap_mode_of[ceiling-bind]=bind
	targets=(freeradius-ldap twostepd-ldap twostepd-ldap-cache ceiling-search+bind ceiling-bind)
	run_all "$ldap_concurrency"
	stop_targets

	notes=(
		-setting "Directory: OpenLDAP slapd $slapd_version (Debian) on 127.0.0.1, mdb, eq indexes on objectClass and uid, default 16 threads, no overlays, no TLS; the $users users as inetOrgPerson under ou=people with the same {SSHA512} userPassword hashes as the file scenario (pw-sha2 module$( (( want_2fa )) && printf '; the 2fa scenario'"'"'s %s users in the same database' "$users_2fa")); a service account that may read all but userPassword. The same slapd serves every row; its CPU is the *directory cores* column (and is not counted in *other cores*)"
		-setting "FreeRADIUS $fr_version (Debian) with rlm_ldap: the files scenario's configuration with files + pap replaced by ldap; authorize: ldap (search as the service account with filter (&(objectClass=inetOrgPerson)(uid=%{User-Name})), no attribute map, no groups), then Auth-Type := LDAP; authenticate: Auth-Type LDAP (bind as the user's DN on a pool connection, which rlm_ldap binds back as the service before its next search); thread pool $fr_ldap_threads (start = max = spare), connection pool $fr_ldap_pool (start = min = max, uses 0, lifetime 0, idle_timeout 0)"
		-setting "twostepd $ts_version: ldap directory backend, user_filter (&(objectClass=inetOrgPerson)(uid=%s)), group_search false, search_pool_size $ts_ldap_pool, bind_pool_size $ts_ldap_pool, radius.workers $ts_workers, log level warn, $go_version; twostepd-ldap: cache_ttl 0 (a search and a bind per request); twostepd-ldap-cache: cache_ttl $ts_ldap_cache (the DN cache warm after the warm-up: a bind per request)"
		-setting "Ceilings: twostep-bench ldap against the same slapd with the same concurrency (one LDAP connection per worker for binds, plus one bound as the service account for searches; one check in flight per worker): ceiling-search+bind searches for the user then binds as it, ceiling-bind binds only (DNs looked up before the run). Its server cores are slapd's; requests/s are password checks per second"
		-setting "Each target loaded alone, the other RADIUS servers paused (SIGSTOP)"
		-setting "$(machine_note)"
	)
	table=$("$bench" compare -ratio twostepd-ldap/freeradius-ldap -ratio twostepd-ldap-cache/freeradius-ldap \
		-ratio twostepd-ldap/ceiling-search+bind -ratio twostepd-ldap-cache/ceiling-bind "${notes[@]}" "${results[@]}")
	printf '\n%s\n\n' "$table"
	if check_table ldap "$table"; then
		write_section '<!-- bench:ldap:begin -->' '<!-- bench:ldap:end -->' "$table"
	else
		status=1
	fi
fi
# --- scenario: 2fa ---------------------------------------------------------------
# mean_field LABEL FIELD: FIELD averaged over LABEL's runs (rounds).
mean_field() {
	local f sum=0 n=0 v
	for f in "$tmp"/results/c*-"$1"-*.json; do
		[[ -f $f ]] || continue
		v=$(json_field "$f" "$2")
		[[ -n $v ]] || continue
		sum=$(awk -v a="$sum" -v b="$v" 'BEGIN { print a + b }') n=$(( n + 1 ))
	done
	(( n )) && awk -v a="$sum" -v n="$n" 'BEGIN { printf "%.6g", a / n }'
}
# smoke LABEL EXPECT ARGS...: a short run of the generator that must get
# EXPECT for every login.
smoke() {
	local label=$1 expect=$2
	shift 2
	"$bench" -secret "$secret" -users "$load_users" -concurrency 4 -warmup 0s -requests 50 -duration 20s \
		-expect "$expect" "$@" >"$tmp/smoke-$label.txt" 2>&1 ||
		{ cat "$tmp/smoke-$label.txt" >&2; die "$label: twostep-bench smoke test failed"; }
}
if (( want_2fa )); then
	failed=0
	load_users=$tmp/2fa/bench-users.txt
	devices_file=$tmp/2fa/bench-devices.txt
	pair_state=$tmp/2fa/pair-state
	start_slapd
	etcd_version=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n 1)
	say "starting etcd $etcd_version (external, one member) on 127.0.0.1"
	start_etcd
	say "enrolling $devices_2fa TOTP devices for each of $users_2fa users (and a copy for the etcd ceiling)"
	"$bench" enroll -endpoints "$etcd_url" -seed-keys "$tmp/seed.key" -users "$load_users" -devices "$devices_2fa" \
		-out "$devices_file" -mirror-prefix "$ceiling_prefix" -concurrency "$ldap_concurrency" >/dev/null ||
		die "enrolling the devices failed"
	say "starting twostepd with the ldap backend on the external etcd: password only (policy exempt), and append + challenge"
	start_twostepd_2fa twostepd-password exempt
	start_twostepd_2fa twostepd-2fa require
	p2fa=${port_of[twostepd-2fa]}
	smoke password accept -server "127.0.0.1:${port_of[twostepd-password]}"
	smoke append accept -server "127.0.0.1:$p2fa" -login append -devices "$devices_file" -pair-state "$pair_state"
	smoke challenge accept -server "127.0.0.1:$p2fa" -login challenge -devices "$devices_file" -pair-state "$pair_state" -source 127.0.0.2
	# Both twostepd look every user up once before the runs, so that each
	# run starts with the DN cache warm for all users (the passcode runs
	# reach users in another order than the password run). The password
	# alone in append mode is refused without a write and without
	# counting toward lockout.
	say "warming both DN caches with $users_2fa users"
	warm=$(( users_2fa + users_2fa / 5 ))
	"$bench" -server "127.0.0.1:${port_of[twostepd-password]}" -secret "$secret" -users "$load_users" \
		-concurrency "$ldap_concurrency" -warmup 0s -requests "$warm" -duration 5m -expect accept >/dev/null ||
		die "warming twostepd-password failed"
	"$bench" -server "127.0.0.1:$p2fa" -secret "$secret" -users "$load_users" \
		-concurrency "$ldap_concurrency" -warmup 0s -requests "$warm" -duration 5m -expect reject >/dev/null ||
		die "warming twostepd-2fa failed"

	port_of[twostepd-append]=$p2fa pid_of[twostepd-append]=${pid_of[twostepd-2fa]}
	port_of[twostepd-challenge]=$p2fa pid_of[twostepd-challenge]=${pid_of[twostepd-2fa]}
	extra_of[twostepd-append]="-login append -devices $devices_file -pair-state $pair_state"
	extra_of[twostepd-challenge]="-login challenge -devices $devices_file -pair-state $pair_state -source 127.0.0.2"
	pid_of[ceiling-etcd-append]=$etcd_pid pid_of[ceiling-etcd-challenge]=$etcd_pid
	etcd_ops_of[ceiling-etcd-append]=append etcd_ops_of[ceiling-etcd-challenge]=challenge
	pid_of[ceiling-bind]=$slapd_pid pid_of[ceiling-search+bind]=$slapd_pid
	ldap_mode_of[ceiling-bind]=bind ldap_mode_of[ceiling-search+bind]=search+bind
	# The passcode runs apart, so that no 30 s step holds more than one
	# of them (each run's pairs come out of the same step budget).
	targets=(twostepd-password twostepd-append ceiling-etcd-append twostepd-challenge ceiling-etcd-challenge ceiling-bind ceiling-search+bind)
	run_all "$ldap_concurrency"
	stop_targets

	etcd_fs=$(df --output=fstype "$tmp" 2>/dev/null | tail -n 1)
	notes=(
		-setting "Users: $users_2fa users of their own (mfa...) in the ldap scenario's slapd (OpenLDAP $slapd_version, mdb, {SSHA512} userPassword), each with $devices_2fa TOTP devices (SHA1, 6 digits, 30 s) enrolled through twostep's cluster API (twostep-bench enroll: sealed seeds, the records twostepctl writes). A device takes one code per 30 s step, so a step allows $(( users_2fa * devices_2fa )) logins: every passcode login uses a (user, device) pair not yet used in the step, with the code of the step, spread over users and device positions (twostepd tries a user's devices in order, so a code is checked against $(( (devices_2fa + 1) / 2 )) devices on average); the pairs a step has used carry from one run to the next. No code is sent twice"
		-setting "twostepd $ts_version: ldap directory backend with the DN cache (cache_ttl $ts_ldap_cache, cache_size $(( users_2fa + 1000 )), every user looked up once before the runs: a bind per password), group_search false, search_pool_size $ts_ldap_pool, bind_pool_size $ts_ldap_pool, radius.workers $ts_workers, log level warn, $go_version; cluster: the external etcd below; passcodes: defaults (window 1 step back, lockout after 10 failures). twostepd-password: policy default exempt (the password alone: the baseline); twostepd-append and twostepd-challenge: one twostepd, policy default require, its client 127.0.0.1 in mode append (password,123456 in User-Password) and its client 127.0.0.2 in mode challenge (the password, an Access-Challenge with State, then the code with the State: a login is two requests, and its latency spans both)"
		-setting "etcd: Debian etcd-server $etcd_version, external, one member on 127.0.0.1, data on the temp dir's ${etcd_fs:-unknown filesystem} (fsync on), periodic compaction (1 h) as twostepd's embedded etcd; its CPU is the *store cores* column (and is not counted in *other cores*). A passcode in append mode costs it one List of users/<u>/ and one compare-and-put of the device's used step (with the lockout compared); in challenge mode also a put of the challenge (on a lease shared by the challenges of a few seconds), a Get of it, the compare-and-put that spends an attempt, a second List, and its delete"
		-setting "Ceilings, at the same concurrency: ceiling-etcd-append and ceiling-etcd-challenge are twostep-bench etcd: the same calls of twostep's cluster package as twostepd makes for one login (append: Load, Accept; challenge: Load, Create, Get, Retry, Load, Accept, Finish), one login in flight per worker on one client, on a copy of the users' records (under $ceiling_prefix); ceiling-bind and ceiling-search+bind are twostep-bench ldap on slapd, as in the ldap scenario, with these users. Their requests/s are logins/s"
		-setting "Each target loaded alone, the other twostepd paused (SIGSTOP); slapd and etcd serve every row"
		-setting "$(machine_note)"
	)
	table=$("$bench" compare -ratio twostepd-append/twostepd-password -ratio twostepd-challenge/twostepd-password \
		-ratio twostepd-append/ceiling-etcd-append -ratio twostepd-challenge/ceiling-etcd-challenge "${notes[@]}" "${results[@]}")
	base=$(mean_field twostepd-password logins_per_s)
	verdict=''
	for t in append challenge; do
		r=$(awk -v a="$(mean_field "twostepd-$t" logins_per_s)" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
		met=$(awk -v r="${r:-0}" 'BEGIN { print (r >= 0.80) ? "met" : "not met" }')
		verdict+="${verdict:+; }$t ${r:-n/a}× of the password-only logins/s ($met)"
	done
	table=$'### Second factor (2fa scenario)\n\nPassword plus TOTP passcode against the password alone, on LDAP (DN cache) and an external etcd, beside the ceilings etcd and slapd allow, all in one run: `BENCH_SCENARIOS=2fa scripts/bench.sh`, settings `BENCH_2FA_USERS`, `BENCH_2FA_DEVICES` and those of the ldap scenario. *logins/s* counts a challenge login (two requests) once; the ratios are of logins/s.\n\n'"$table"
	table+=$'\n\n'"**Target** (issue 4: the full second-factor path keeps at least 80 % of the password-only throughput): $verdict."
	printf '\n%s\n\n' "$table"
	if check_table 2fa "$table"; then
		write_section '<!-- bench:2fa:begin -->' '<!-- bench:2fa:end -->' "$table"
	else
		status=1
	fi
fi
if (( want_push )); then
	# --- push: logins waiting for a push at once -------------------------
	say "push scenario: $push_pending logins pending on one twostepd"
	if (( ! etcd_pid )) || ! kill -0 "$etcd_pid" 2>/dev/null; then
		start_etcd
	fi
	etcd_version=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n 1)
	rows=
	for where in external embedded; do
		args=(push -twostepd "$twostepd" -pending "$push_pending" -approve-rate "$push_rate" -json)
		[[ $where == external ]] && args+=(-endpoints "$etcd_url")
		"$bench" "${args[@]}" >"$tmp/push-$where.json" 2>"$tmp/push-$where.log" || die "push scenario ($where etcd) failed: see $tmp/push-$where.log"
		f=$tmp/push-$where.json
		rows+="| $where | $(jfield "$f" pending) | $(jnum "$f" build_up_seconds 1) | $(jnum "$f" rss_idle_mb 1) | **$(jnum "$f" rss_pending_mb 1)** | $(jnum "$f" rss_after_mb 1) | $(jnum "$f" approval_to_accept_p50_ms 2) | **$(jnum "$f" approval_to_accept_p99_ms 2)** | $(jnum "$f" approval_to_accept_max_ms 2) | $(jnum "$f" api_p50_ms 2) | $(jfield "$f" accepted) |"$'\n'
	done
	ext=$tmp/push-external.json
	verdict="memory $(awk -v m="$(jfield "$ext" rss_pending_mb)" 'BEGIN { print (m < 150) ? "met" : "not met" }') ($(jnum "$ext" rss_pending_mb 1) MB), p99 $(awk -v p="$(jfield "$ext" approval_to_accept_p99_ms)" 'BEGIN { print (p < 50) ? "met" : "not met" }') ($(jnum "$ext" approval_to_accept_p99_ms 1) ms), with the external etcd; with the embedded etcd inside twostepd, $(jnum "$tmp/push-embedded.json" rss_pending_mb 1) MB and $(jnum "$tmp/push-embedded.json" approval_to_accept_p99_ms 1) ms"
	table="### Push (push scenario)

$push_pending logins each waiting for a push on one twostepd at once, then every push approved through the approval API with the device's signature: \`BENCH_SCENARIOS=push scripts/bench.sh\` (\`twostep-bench push\`), settings \`BENCH_PUSH_PENDING\`, \`BENCH_PUSH_RATE\`.

- twostepd $ts_version, users file ({SSHA512}), one client in append mode (\`password,push\`, nas_timeout 30s, nas_retries 2), push limit off, log level warn, $go_version; every user has one push device whose webhook is twostep-bench (one HTTP server on loopback)
- Logins sent at 1000/s, retransmitted every 3 s until their notification arrives (as a NAS does: the burst exceeds radius.workers and some are shed); *build-up* is the time until every notification has arrived
- *external*: twostepd on Debian etcd-server $etcd_version (the same as the 2fa scenario; its memory is not twostepd's). *embedded*: twostepd's embedded etcd, whose memory is counted in twostepd's RSS
- Approvals posted at $push_rate/s (each in its own goroutine: open loop), signed with each device's P-256 key; *approval → Accept* is from the moment the approval is posted to the Access-Accept's arrival at the NAS, *API* the approval API's answer time
- $(machine_note)

| etcd | pending | build-up s | RSS idle MB | RSS pending MB | RSS after MB | approval → Accept p50 ms | p99 ms | max ms | API p50 ms | accepted |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows%$'\n'}

**Targets** (issue 6: 5,000 pending pushes on one node under 150 MB resident, approval to Access-Accept p99 under 50 ms): $verdict."
	printf '\n%s\n\n' "$table"
	write_section '<!-- bench:push:begin -->' '<!-- bench:push:end -->' "$table"
fi
if (( want_portal )); then
	# --- portal: sign-ins and page views over HTTPS ----------------------
	say "portal scenario: $portal_users users signing in"
	if (( ! etcd_pid )) || ! kill -0 "$etcd_pid" 2>/dev/null; then
		start_etcd
	fi
	etcd_version=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p' | head -n 1)
	f=$tmp/portal.json
	"$bench" portal -twostepd "$twostepd" -users "$portal_users" -endpoints "$etcd_url" -json >"$f" 2>"$tmp/portal.log" || die "portal scenario failed: see $tmp/portal.log"
	ratio() { awk -v a="$(jfield "$f" "$1")" -v b="$(jfield "$f" "$2")" 'BEGIN { printf "%.2f×", a / b }'; }
	table="### Self-service portal (portal scenario)

The portal's two paths over HTTPS against one twostepd, then the same cluster operations sent to etcd directly by the generator: \`BENCH_SCENARIOS=portal scripts/bench.sh\` (\`twostep-bench portal\`), setting \`BENCH_PORTAL_USERS\`.

- twostepd $ts_version with the portal (TLS 1.3, a self-signed P-256 certificate), users file ({SSHA512}), Debian etcd-server $etcd_version (the same as the 2fa scenario), log level warn, $go_version
- $(jfield "$f" concurrency) browsers at once (closed loop), each from its own loopback address with keep-alive connections; $(jfield "$f" duration_seconds) s measured per path after a 2 s warm-up
- *sign-in*: POST /signin (password), GET /signin/factor, POST /signin/passcode (an unlimited bypass code), GET /devices: four pages, a new cookie jar each time. *page view*: GET /devices (My Settings & Devices) with a signed-in session
- *store ceiling*: the cluster operations of the same path from the generator, no HTTP: a sign-in is 4 account reads, 3 session reads, a session create, the bypass code's use and the session's rotation; a page view is a session read and an account read
- $(machine_note)

| path | twostepd /s | p50 ms | p99 ms | store ceiling /s | of the ceiling | twostepd CPU per op |
|---|---:|---:|---:|---:|---:|---:|
| sign-in (4 pages) | **$(jnum "$f" sign_ins_per_sec 0)** | $(jnum "$f" sign_in_p50_ms 1) | $(jnum "$f" sign_in_p99_ms 1) | $(jnum "$f" ceiling_sign_ins_per_sec 0) | $(ratio sign_ins_per_sec ceiling_sign_ins_per_sec) | $(jnum "$f" twostepd_cpu_per_sign_in_us 0) µs |
| page view | **$(jnum "$f" pages_per_sec 0)** | $(jnum "$f" page_p50_ms 1) | $(jnum "$f" page_p99_ms 1) | $(jnum "$f" ceiling_pages_per_sec 0) | $(ratio pages_per_sec ceiling_pages_per_sec) | $(jnum "$f" twostepd_cpu_per_page_us 0) µs |

No target was set for the portal (issue 7); the figures say what a node serves while its RADIUS work goes on."
	printf '\n%s\n\n' "$table"
	write_section '<!-- bench:portal:begin -->' '<!-- bench:portal:end -->' "$table"
fi
if (( status )); then
	die "some results were not written (see above)"
fi
