#!/bin/sh
# Takes a fresh Debian machine that has only Node.js and npm to one where dropship runs, then
# runs a package.json script with the project's own Bun:  sh scripts/bootstrap.sh SCRIPT [ARGS]
# System packages come from apt (root needed), Bun and the JS dependencies from the lock file.
set -eu
cd "$(dirname "$0")/.."

missing=""
need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || missing="$missing $2"
}
need redis-server redis-server
need git git
need sshd openssh-server
need ansible-playbook ansible
# Mitogen runs the playbooks' tasks in one Python per host (ansible.cfg: strategy)
dpkg-query -W -f='${Status}' ansible-mitogen 2>/dev/null | grep -q "ok installed" ||
  missing="$missing ansible-mitogen"
need ip iproute2
need unshare util-linux
need zstd zstd
# the test gate runs pushed code inside bubblewrap, as the unprivileged user dropship-build
need bwrap bubblewrap
# the emulator carries out cloud firewalls with nftables inside each droplet
need nft nftables
# the playbooks' second firewall layer; emulated droplets run this machine's programs with their
# own /etc, so ufw here is ufw on every droplet (it stays off on this machine)
need ufw ufw
# HTTPS: openssl and curl check certificates; the emulator's DNS is dnsmasq, and the demo and
# the tests get certificates from Let's Encrypt's test CA, pebble
need openssl openssl
need curl curl
need dnsmasq dnsmasq-base
need pebble pebble
# the emulator carries DigitalOcean load balancers out with HAProxy (demo --ha, the tests)
need haproxy haproxy
# and gives each droplet its own /proc figures (CPU, memory) with LXCFS, over its cgroups
need lxcfs lxcfs
# its droplets boot systemd, as DigitalOcean's images do, in containers
need systemd-nspawn systemd-container
# the dashboard's browser test drives Debian's Chromium (playwright-core downloads no browser)
case "${1:-}" in
  test*) need chromium "chromium fonts-liberation"; need certutil libnss3-tools ;;
esac

if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "dropship: installing Debian packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "dropship: installing Debian packages with sudo:$missing"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "dropship: these Debian packages are missing:$missing" >&2
    echo "dropship: installing them needs root; run: sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

if [ "$(id -u)" = 0 ] && ! getent passwd dropship-build >/dev/null; then
  echo "dropship: adding the system user dropship-build, which the test gate runs pushed code as"
  useradd --system --no-create-home --shell /usr/sbin/nologin dropship-build
fi

if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "dropship: installing Bun and the JS dependencies from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
fi

exec node_modules/.bin/bun run "$@"
