#!/usr/bin/env bash
# Builds a private OpenLDAP slapd for the benchmark, modelled on
# directory/ldaptest: a cn=config loaded with slapadd -n0, one mdb database
# with eq indexes on objectClass and uid, the pw-sha2 module (so that
# userPassword can hold the same {SSHA512} hashes as the other scenarios),
# a service account that may read everything but passwords, and the bench
# users. Run it with `slapd -d 0 -F DIR/slapd.d -h ldap://127.0.0.1:PORT/`.
#
# Usage: scripts/bench-slapd.sh DIR BASE_DN SERVICE_PASSWORD_FILE USERS_LDIF...
#   DIR                    directory to create (must not exist)
#   BASE_DN                suffix, dc=NAME,dc=NAME; users under ou=people
#   SERVICE_PASSWORD_FILE  the password of cn=twostep,ou=services,BASE_DN
#   USERS_LDIF             the entries under ou=people (twostep-bench users
#                          ldap-users.ldif); several files for several user
#                          sets (each scenario's users, with their own names)
set -euo pipefail

if [[ $# -lt 4 ]]; then
	sed -n '2,16p' "$0" >&2
	exit 2
fi
dir=$1 base=$2 pwfile=$3
shift 3
users=("$@")
[[ -e $dir ]] && { echo "bench-slapd: $dir exists" >&2; exit 1; }
[[ $base =~ ^dc=([a-z0-9-]+),dc=[a-z0-9-]+$ ]] || { echo "bench-slapd: BASE_DN: want dc=NAME,dc=NAME" >&2; exit 1; }
dc=${BASH_REMATCH[1]}
slapadd=$(PATH=$PATH:/usr/sbin command -v slapadd)
slappasswd=$(PATH=$PATH:/usr/sbin command -v slappasswd)
mkdir -p "$dir/slapd.d" "$dir/data"
chmod 700 "$dir"

svc_hash=$("$slappasswd" -h '{SSHA}' -s "$(head -n 1 "$pwfile")")
# The rootdn only exists for slapadd's sake; its password is random.
admin_hash=$("$slappasswd" -h '{SSHA}' -s "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')")

cat >"$dir/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcArgsFile: $dir/slapd.args

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: pw-sha2

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $base
olcRootDN: cn=admin,$base
olcRootPW: $admin_hash
olcDbDirectory: $dir/data
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by dn.exact="cn=twostep,ou=services,$base" read by self read by * none
LDIF

cat >"$dir/base.ldif" <<LDIF
dn: $base
objectClass: dcObject
objectClass: organization
dc: $dc
o: $dc

dn: ou=people,$base
objectClass: organizationalUnit
ou: people

dn: ou=services,$base
objectClass: organizationalUnit
ou: services

dn: cn=twostep,ou=services,$base
objectClass: person
cn: twostep
sn: twostep
userPassword: $svc_hash

LDIF
cat "${users[@]}" >>"$dir/base.ldif"

"$slapadd" -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1 ||
	{ cat "$dir/slapadd.log" >&2; exit 1; }
"$slapadd" -q -F "$dir/slapd.d" -b "$base" -l "$dir/base.ldif" >>"$dir/slapadd.log" 2>&1 ||
	{ cat "$dir/slapadd.log" >&2; exit 1; }
