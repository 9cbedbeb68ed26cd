#!/usr/bin/env bash
# Installs the real peers the tests talk to, when they are missing.
# As root it uses apt-get; otherwise it prints the exact command and fails:
# integration tests never skip for a missing peer.
set -euo pipefail

# command -> Debian package
declare -A peers=(
  [radclient]=freeradius-utils
  [freeradius]=freeradius
  [slapd]=slapd
  [ldapsearch]=ldap-utils
  [oathtool]=oathtool
  [chromium]=chromium
  [ocserv]=ocserv
  [openconnect]=openconnect
  [pamtester]=pamtester
  [etcdctl]=etcd-client
  [etcd]=etcd-server
  [promtool]=prometheus
  [rsyslogd]=rsyslog
)

# file -> Debian package, for peers that are not commands: a PAM module
# by name, anything else by its absolute path (a glob for the
# architecture's directory).
declare -A files=(
  [pam_radius_auth.so]=libpam-radius-auth
  [/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]=fonts-dejavu-core
  [/usr/lib/*/rsyslog/lmnsd_gtls.so]=rsyslog-gnutls
)

missing=()
for cmd in "${!peers[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${peers[$cmd]}")
done
for f in "${!files[@]}"; do
  if [[ $f == /* ]]; then
    compgen -G "$f" >/dev/null || missing+=("${files[$f]}")
    continue
  fi
  found=
  for dir in /lib/*/security /usr/lib/*/security /lib/security /usr/lib/security; do
    [ -e "$dir/$f" ] && found=1 && break
  done
  [ -n "$found" ] || missing+=("${files[$f]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "test peers missing: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing test peers: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start system daemons (slapd on :389): tests
# start their own peers on loopback ports and stop them by pid.
made_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
trap 'if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
