#!/usr/bin/env bash
# Installs every system and npm dependency the build, tests, demo and bench need.
# Idempotent: only missing Debian packages are installed; npm runs only when the lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build: BPF objects (clang, libbpf headers), the native addon (node-gyp: gcc/g++, make, python3)
  clang llvm libbpf-dev bpftool linux-libc-dev libelf-dev zlib1g-dev gcc g++ make python3
  # runtime and tests: namespaces and traffic (ip, ping, socat, tcpdump, ethtool, sysctl, mount)
  iproute2 iputils-ping netcat-openbsd socat hping3 tcpdump nftables ethtool procps mount
  # netfilter's own conntrack table (compared with tc-conntrack) and promtool (metrics lint)
  conntrack prometheus
  # the local-user e2e: curl (with --unix-socket) and setpriv (util-linux) run as nobody
  curl util-linux
  # tshark (editcap and mergecap come with it): the oracle of the capture reader and of replay's
  # link conversion, and the checksum validator of everything tc-scrub (and NAT) rewrites
  tshark
)

# Node.js 20 or newer runs the agent; Debian 12's own nodejs (18) is too old for it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: Node.js >= 20 with npm is required (not found on PATH)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: Node.js >= 20 is required, found $(node --version)" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root)" >&2
    exit 1
  fi
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.install-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
