#!/usr/bin/env bash
# Installs the Debian 12 packages that regvault's build, demo, tests and benchmarks
# need; only what is missing (idempotent). Uses sudo when not root.
set -euo pipefail

# deps.sh [--list] [demo|all]: demo is what `make demo` needs (build, etcd, the
# commands the demo script calls); all (the default) adds what the tests and
# benchmarks use. --list prints the packages instead of installing them.
LIST=false
if [ "${1:-}" = --list ]; then LIST=true; shift; fi
GROUP=${1:-all}
PKGS=(
  # build
  make gcc pkg-config protobuf-c-compiler libprotobuf-c-dev libgrpc-dev
  libzstd-dev libarchive-dev libcurl4-openssl-dev libyaml-dev libssl-dev libjansson-dev libsystemd-dev
  # the etcd regvault runs, and the commands the demo calls (ss, etcdctl)
  etcd-server etcd-client iproute2
)
if [ "$GROUP" = all ]; then
  PKGS+=(
    # the tools tests compare with
    zstd fio curl openssl jq
    # encrypted artifacts: tests/it/25-encryption.sh opens them with age and age-keygen
    age
    # promtool (tests/it/56-metrics.sh lints the metrics with `promtool check metrics`)
    prometheus
    # what the tests and benchmarks call besides: pgrep, /usr/bin/time
    procps time
    # S3 tests: the fault-injecting proxy (tests/tools/faultproxy.py) and the aws CLI for interop checks
    python3 awscli
    # S3 server for integration tests (Ceph RGW) and its helpers
    ceph-mon ceph-osd radosgw uuid-runtime
    # sanitizer and memory checks; clang's libFuzzer for tests/fuzz (-fsanitize=fuzzer
    # comes with libclang-rt-14-dev, which clang-14 only recommends)
    valgrind clang-14 libclang-rt-14-dev
    # packaging: the .deb (debhelper; dh-sequence-bash-completion comes with bash-completion)
    # and its checks, the .rpm and rpmlint, man page checks (groff), promtool for the alert rules
    dpkg-dev debhelper lintian bash-completion rpm rpmlint groff-base prometheus
  )
elif [ "$GROUP" != demo ]; then
  echo "usage: deps.sh [demo|all]" >&2
  exit 2
fi

if $LIST; then printf '%s\n' "${PKGS[@]}"; exit 0; fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || $SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
