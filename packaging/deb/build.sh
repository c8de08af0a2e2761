#!/usr/bin/env bash
# deb/build.sh BUILD_DIR OUT_DIR VERSION: build regvault_VERSION_ARCH.deb with dpkg-deb.
set -euo pipefail
BUILD=$1 OUT=$2 VERSION=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARCH=$(dpkg --print-architecture)
STAGE=$OUT/deb-root
bash "$ROOT/packaging/stage.sh" "$BUILD" "$STAGE"
mkdir -p "$STAGE/DEBIAN"
cat >"$STAGE/DEBIAN/control" <<CTL
Package: regvault
Version: $VERSION
Architecture: $ARCH
Maintainer: regvault developers <regvault@localhost>
Depends: libgrpc29, libprotobuf-c1, libzstd1, libarchive13, libcurl4, libyaml-0-2, libssl3, libjansson4, libsystemd0, etcd-client
Recommends: etcd-server
Section: admin
Priority: optional
Description: backup, restore and maintenance of a three-member etcd cluster
 regvault takes streamed, verified, zstd-compressed snapshots of an etcd cluster
 into a local directory or S3, restores all members from one snapshot with
 rollback, drills restores into a scratch cluster, and runs compaction, rolling
 defragmentation, NOSPACE recovery and consistency checks. Systemd timers for
 hourly snapshots, weekly drills and daily defragmentation are included.
CTL
echo "/etc/regvault/regvault.yaml.example" >"$STAGE/DEBIAN/conffiles"
cat >"$STAGE/DEBIAN/postinst" <<'POST'
#!/bin/sh
set -e
# The daemon's user (regvault.service runs as regvault; the timers' units as root).
if [ "$1" = configure ] && command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers regvault.conf || true
fi
if [ "$1" = configure ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
POST
chmod 0755 "$STAGE/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$STAGE" "$OUT/regvault_${VERSION}_${ARCH}.deb" >/dev/null
rm -rf "$STAGE"
echo "$OUT/regvault_${VERSION}_${ARCH}.deb"
