#!/usr/bin/env bash
# Builds a private FreeRADIUS 3.2 configuration for the benchmark from the
# Debian one: PAP against the files module, one client on loopback with
# Message-Authenticator required, nothing else (no eap, inner-tunnel,
# detail, proxy or per-request logging). Run it with `freeradius -f -d DIR`.
#
# Usage: scripts/bench-freeradius.sh DIR PORT SECRET AUTHORIZE_FILE THREADS
#   DIR             raddb to create (must not exist)
#   PORT            UDP port to listen on, on 127.0.0.1 only
#   SECRET          shared secret of the 127.0.0.1 client (16+ characters)
#   AUTHORIZE_FILE  users in rlm_files format (user  Password-With-Header := "...")
#   THREADS         worker threads: start = max = spare, a fixed pool
set -euo pipefail

if [[ $# -ne 5 ]]; then
	sed -n '2,13p' "$0" >&2
	exit 2
fi
dir=$1 port=$2 secret=$3 authorize=$4 threads=$5
src=${FREERADIUS_RADDB:-/etc/freeradius/3.0}

[[ -e $dir ]] && { echo "bench-freeradius: $dir exists" >&2; exit 1; }
[[ -r $src/radiusd.conf ]] || { echo "bench-freeradius: cannot read $src/radiusd.conf" >&2; exit 1; }
(( ${#secret} >= 16 )) || { echo "bench-freeradius: the secret must be 16+ characters" >&2; exit 1; }
if ! [[ $threads =~ ^[0-9]+$ ]] || (( threads < 1 || threads > 256 )); then
	echo "bench-freeradius: THREADS must be 1-256" >&2
	exit 1
fi

# cp -R keeps the relative mods-enabled symlinks; -p keeps modes but the
# copy belongs to whoever runs the benchmark.
cp -Rp "$src" "$dir"
mkdir -p "$dir/log" "$dir/run"

# radiusd.conf: paths into DIR; run as the invoking user (no user/group
# switch: the private copy and its pid file live in a temp dir); no
# proxying; a fixed thread pool; room to track every request for the 5 s
# duplicate-detection window (cleanup_delay) at tens of thousands per
# second, where the default 16384 would drop requests.
sed -i \
	-e "s|^raddbdir = .*|raddbdir = $dir|" \
	-e "s|^logdir = .*|logdir = $dir/log|" \
	-e "s|^run_dir = .*|run_dir = $dir/run|" \
	-e "s|^max_requests = .*|max_requests = 1048576|" \
	-e "s|^proxy_requests *= .*|proxy_requests = no|" \
	-e "s|^\\\$INCLUDE proxy.conf|# proxy.conf left out|" \
	-e "/^\s*user = freerad/d" \
	-e "/^\s*group = freerad/d" \
	-e "s|^\(\s*\)start_servers = .*|\1start_servers = $threads|" \
	-e "s|^\(\s*\)max_servers = .*|\1max_servers = $threads|" \
	-e "s|^\(\s*\)min_spare_servers = .*|\1min_spare_servers = $threads|" \
	-e "s|^\(\s*\)max_spare_servers = .*|\1max_spare_servers = $threads|" \
	"$dir/radiusd.conf"

# Only the modules PAP against a users file needs.
rm -f "$dir"/mods-enabled/*
for m in pap files always; do
	ln -s "../mods-available/$m" "$dir/mods-enabled/$m"
done

cat > "$dir/clients.conf" <<CLIENTS
client bench {
	ipaddr = 127.0.0.1
	secret = "$secret"
	require_message_authenticator = yes
	nas_type = other
}
CLIENTS

install -m 0600 "$authorize" "$dir/mods-config/files/authorize"

rm -f "$dir"/sites-enabled/*
cat > "$dir/sites-enabled/bench" <<SITE
# The default site cut down to PAP against the files module.
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $port
	}
	authorize {
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
	post-auth {
		# Sign every answer, as twostepd does (BlastRADIUS): FreeRADIUS
		# 3.2.1 adds a Message-Authenticator only when asked to.
		update reply {
			&Message-Authenticator := 0x00
		}
		Post-Auth-Type REJECT {
			update reply {
				&Message-Authenticator := 0x00
			}
		}
	}
}
SITE
