#!/usr/bin/env bash
# Builds a private FreeRADIUS 3.2 configuration for the LDAP scenario of
# the benchmark: the files scenario's configuration (scripts/bench-freeradius.sh:
# same radiusd.conf, client and site trimming) with rlm_ldap in place of
# files + pap. authorize runs ldap (one search as the service account,
# which finds the user's DN and sets Auth-Type LDAP); authenticate runs
# Auth-Type LDAP (a bind as that DN with the User-Password). rlm_ldap's
# connection pool is fixed at POOL (start = min = max, no
# lifetime or use limit).
#
# Usage: scripts/bench-freeradius-ldap.sh DIR PORT SECRET THREADS LDAP_PORT BASE_DN IDENTITY PASSWORD_FILE POOL
#   DIR            raddb to create (must not exist)
#   PORT           UDP port to listen on, on 127.0.0.1 only
#   SECRET         shared secret of the 127.0.0.1 client (16+ characters)
#   THREADS        worker threads: start = max = spare, a fixed pool
#   LDAP_PORT      slapd's port on 127.0.0.1 (ldap://, no TLS)
#   BASE_DN        where users are searched (subtree)
#   IDENTITY       service account DN
#   PASSWORD_FILE  its password
#   POOL           rlm_ldap connections
set -euo pipefail

if [[ $# -ne 9 ]]; then
	sed -n '2,20p' "$0" >&2
	exit 2
fi
dir=$1 port=$2 secret=$3 threads=$4 ldap_port=$5 base=$6 identity=$7 pwfile=$8 pool=$9
if ! [[ $pool =~ ^[0-9]+$ ]] || (( pool < 1 || pool > 1024 )); then
	echo "bench-freeradius-ldap: POOL must be 1-1024" >&2
	exit 1
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
"$here/bench-freeradius.sh" "$dir" "$port" "$secret" "$empty" "$threads"

password=$(head -n 1 "$pwfile")
[[ $password != *[\'\\]* ]] || { echo "bench-freeradius-ldap: the password may not hold ' or \\" >&2; exit 1; }

rm -f "$dir"/mods-enabled/*
ln -s ../mods-available/always "$dir/mods-enabled/always"
cat >"$dir/mods-enabled/ldap" <<MOD
# rlm_ldap for the benchmark: the user is searched as the service account
# (the same filter as twostepd), then bound as with the User-Password.
# No update map (nothing but the DN is read), no group or profile
# lookups, no TLS: the least work per request FreeRADIUS can do.
ldap {
	server = '127.0.0.1'
	port = $ldap_port
	identity = '$identity'
	password = '$password'
	base_dn = '$base'
	user {
		base_dn = "\${..base_dn}"
		filter = "(&(objectClass=inetOrgPerson)(uid=%{%{Stripped-User-Name}:-%{User-Name}}))"
		scope = 'sub'
	}
	options {
		chase_referrals = no
		rebind = no
		res_timeout = 5
		srv_timelimit = 5
		net_timeout = 3
		ldap_debug = 0x0000
	}
	pool {
		start = $pool
		min = $pool
		max = $pool
		spare = 0 # FreeRADIUS forces 0 when min = max
		uses = 0
		retry_delay = 1
		lifetime = 0
		idle_timeout = 0
	}
}
MOD

cat > "$dir/sites-enabled/bench" <<SITE
# The default site cut down to PAP against LDAP: authorize searches,
# authenticate binds as the user.
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $port
	}
	authorize {
		ldap
		if ((ok || updated) && User-Password) {
			update control {
				&Auth-Type := LDAP
			}
		}
	}
	authenticate {
		Auth-Type LDAP {
			ldap
		}
	}
	post-auth {
		# Sign every answer, as twostepd does (BlastRADIUS).
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
