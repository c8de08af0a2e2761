#!/usr/bin/env bash
# stage.sh BUILD_DIR STAGE_DIR: lay out the installed files of the package, shared
# by the deb and rpm builds.
set -euo pipefail
BUILD=$1 STAGE=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$STAGE"
install -D -m 0755 "$BUILD/regvault" "$STAGE/usr/bin/regvault"
for u in "$ROOT"/packaging/systemd/*; do
  install -D -m 0644 "$u" "$STAGE/lib/systemd/system/$(basename "$u")"
done
install -D -m 0644 "$ROOT/packaging/sysusers/regvault.conf" "$STAGE/usr/lib/sysusers.d/regvault.conf"
install -D -m 0640 "$ROOT/packaging/regvault.yaml.example" "$STAGE/etc/regvault/regvault.yaml.example"
install -D -m 0644 "$ROOT/README.md" "$STAGE/usr/share/doc/regvault/README.md"
if [ -d "$ROOT/docs/runbooks" ]; then
  for f in "$ROOT"/docs/runbooks/*.md; do
    [ -e "$f" ] && install -D -m 0644 "$f" "$STAGE/usr/share/doc/regvault/runbooks/$(basename "$f")"
  done
fi
install -d -m 0750 "$STAGE/var/lib/regvault"
