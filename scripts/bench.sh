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
# Settings (environment):
#   BENCH_SCENARIOS="file ldap"  which scenarios to run
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
scenarios=${BENCH_SCENARIOS:-file ldap}
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
freeradius_bin=$(PATH=$PATH:/usr/sbin command -v freeradius || true)
if [[ -z $freeradius_bin ]] || ! command -v radclient >/dev/null; then
	install_cmd="apt-get install -y --no-install-recommends freeradius freeradius-utils"
	if (( EUID != 0 )); then
		die "FreeRADIUS is missing; run as root: $install_cmd"
	fi
	say "installing FreeRADIUS: $install_cmd"
	export DEBIAN_FRONTEND=noninteractive
	if ! $install_cmd >/dev/null; then
		apt-get update >/dev/null
		$install_cmd >/dev/null
	fi
	freeradius_bin=$(PATH=$PATH:/usr/sbin command -v freeradius)
fi
for s in $scenarios; do
	case $s in
	file | ldap) ;;
	*) die "unknown scenario in BENCH_SCENARIOS: $s (want file, ldap)" ;;
	esac
done
want_ldap=0
[[ " $scenarios " == *" ldap "* ]] && want_ldap=1
if (( want_ldap )); then
	missing=()
	[[ -e /usr/lib/freeradius/rlm_ldap.so ]] || missing+=(freeradius-ldap)
	[[ -x /usr/sbin/slapd && -x /usr/sbin/slappasswd ]] || missing+=(slapd)
	[[ -e /usr/lib/ldap/pw-sha2.so ]] || missing+=(slapd) # pw-sha2: {SSHA512}
	if (( ${#missing[@]} )); then
		install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
		(( EUID == 0 )) || die "the ldap scenario needs ${missing[*]}; run as root: $install_cmd"
		say "installing ${missing[*]}: $install_cmd"
		export DEBIAN_FRONTEND=noninteractive
		if ! $install_cmd >/dev/null; then
			apt-get update >/dev/null
			$install_cmd >/dev/null
		fi
	fi
fi
fr_version=$("$freeradius_bin" -v 2>/dev/null | sed -n 's/.*FreeRADIUS Version \([0-9.]*\).*/\1/p' | head -n 1)
[[ $fr_version == 3.* ]] || die "want FreeRADIUS 3.x, found '${fr_version:-unknown}' at $freeradius_bin"

need=(twostep-bench)
[[ " $servers " == *" twostepd "* || $want_ldap == 1 ]] && need+=(twostepd)
for b in "${need[@]}"; do
	if [[ ! -x $root/bin/$b ]]; then
		say "building bin/$b"
		(cd "$root" && go build -o "bin/$b" "./cmd/$b")
	fi
done

# --- temp dir, ports, users ----------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/twostep-bench.XXXXXX")
mkdir "$tmp/results"

taken=()
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
		[[ " ${taken[*]} " == *" $p "* ]] && continue
		if port_free "$p"; then
			taken+=("$p")
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
	metrics:
	  listen: "127.0.0.1:$ts_metrics"
	YAML
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

# --- the LDAP scenario's servers ---------------------------------------------
ldap_port='' slapd_pid=0
svc_dn="cn=twostep,ou=services,$ldap_base"
start_slapd() {
	ldap_port=$(pick_port)
	printf '%s' "svc-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" >"$tmp/ldap-service.pw"
	chmod 600 "$tmp/ldap-service.pw"
	"$root/scripts/bench-slapd.sh" "$tmp/slapd" "$ldap_base" "$tmp/ldap-service.pw" "$tmp/ldap-users.ldif"
	/usr/sbin/slapd -d 0 -F "$tmp/slapd/slapd.d" -h "ldap://127.0.0.1:$ldap_port/" >"$tmp/slapd.log" 2>&1 &
	slapd_pid=$!
	pids+=("$slapd_pid")
	# Ready once an authenticated search finds the first user.
	for _ in $(seq 100); do
		ldapsearch -x -LLL -H "ldap://127.0.0.1:$ldap_port" -D "$svc_dn" -y "$tmp/ldap-service.pw" \
			-b "$ldap_base" "(uid=$user1)" dn 2>/dev/null | grep -q "^dn: uid=$user1," && return
		kill -0 "$slapd_pid" 2>/dev/null || die "slapd exited at start"
		sleep 0.1
	done
	die "slapd not ready after 10s"
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
	metrics:
	  listen: "127.0.0.1:$metrics"
	YAML
	run_twostepd "$label" "$port" "$metrics"
}

# run_twostepd LABEL PORT METRICS: checks and starts twostepd on
# $tmp/LABEL.yaml, waits for /readyz and an answer, and records it.
run_twostepd() {
	local label=$1 port=$2 metrics=$3
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
	radclient_check "$label" "$port"
	port_of[$label]=$port pid_of[$label]=$pid
}

# --- the runs ---------------------------------------------------------------
# Only the target under load runs; the others are paused so that their
# timers and cleanup (FreeRADIUS keeps every request for cleanup_delay,
# twostepd its duplicate cache) cannot take CPU from it. slapd, which the
# LDAP targets all need, is never paused.
targets=()
pause_all() {
	local t
	for t in "${targets[@]}"; do
		[[ ${pid_of[$t]} == "$slapd_pid" ]] || kill -STOP "${pid_of[$t]}"
	done
}
resume() { kill -CONT "${pid_of[$1]}"; }
# stop_targets: the scenario's servers are done with; stop them so that
# they take nothing from the next scenario.
stop_targets() {
	local t
	for t in "${targets[@]}"; do
		[[ ${pid_of[$t]} == "$slapd_pid" ]] && continue
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

declare -A ldap_mode_of # ceiling targets of the ldap scenario: their twostep-bench ldap -mode
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
			-users "$tmp/bench-users.txt" -concurrency "$c" -duration "$duration" -warmup "$warmup" \
			-label "$t" -server-pid "$slapd_pid" -json >"$f" &
	else
		local dir=()
		(( slapd_pid )) && dir=(-directory-pid "$slapd_pid")
		"$bench" -server "127.0.0.1:${port_of[$t]}" -secret "$secret" -users "$tmp/bench-users.txt" \
			-concurrency "$c" -duration "$duration" -warmup "$warmup" -label "$t" \
			-server-pid "${pid_of[$t]}" "${dir[@]}" -expect accept -json >"$f" &
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
				req=$(json_field "$f" requests)
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
if [[ " $scenarios " == *" file "* ]]; then
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
	say "starting slapd $(/usr/sbin/slapd -VV 2>&1 | sed -n 's/.*slapd \([0-9.]*\).*/\1/p' | head -n 1) on 127.0.0.1 with $users users"
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

	slapd_version=$(/usr/sbin/slapd -VV 2>&1 | sed -n 's/.*slapd \([0-9.]*\).*/\1/p' | head -n 1)
	notes=(
		-setting "Directory: OpenLDAP slapd $slapd_version (Debian) on 127.0.0.1, mdb, eq indexes on objectClass and uid, default 16 threads, no overlays, no TLS; the $users users as inetOrgPerson under ou=people with the same {SSHA512} userPassword hashes as the file scenario (pw-sha2 module); a service account that may read all but userPassword. The same slapd serves every row; its CPU is the *directory cores* column (and is not counted in *other cores*)"
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
if (( status )); then
	die "some results were not written (see above)"
fi
