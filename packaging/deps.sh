#!/usr/bin/env bash
# Installs the Debian 12 packages that regvault's build, demo, tests and benchmarks
# need; only what is missing (idempotent). Uses sudo when not root.
set -euo pipefail

PKGS=(
  # build
  make gcc pkg-config protobuf-c-compiler libprotobuf-c-dev libgrpc-dev
  libzstd-dev libarchive-dev libcurl4-openssl-dev libyaml-dev libssl-dev libjansson-dev
  # the etcd regvault runs and the tools tests compare with
  etcd-server etcd-client zstd fio curl openssl jq
  # what the tests and benchmarks call besides: ss, pgrep, /usr/bin/time
  iproute2 procps time
  # S3 tests: the fault-injecting proxy (tests/tools/faultproxy.py) and the aws CLI for interop checks
  python3 awscli
  # S3 server for integration tests (Ceph RGW) and its helpers
  ceph-mon ceph-osd radosgw uuid-runtime
  # sanitizer and memory checks
  valgrind
  # packaging
  dpkg-dev rpm
)

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
