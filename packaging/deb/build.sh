#!/usr/bin/env bash
# deb/build.sh OUT_DIR [VERSION]: regvault_VERSION_ARCH.deb built from source with
# dpkg-buildpackage and debian/, in a copy of the working tree under OUT_DIR/src (so
# nothing is written beside the checkout). VERSION (default: debian/changelog's) gets a
# changelog entry of its own in the copy. The copy's build/ is kept between runs, so a
# second build (another VERSION, or after an edit) recompiles only what changed.
set -euo pipefail
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=${2:-}
SRC=$OUT/src/regvault
mkdir -p "$SRC"
# debhelper's own state from an earlier run would make dh skip steps: debian/ is fresh.
rm -rf "$SRC/debian"
tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$SRC" -xf -
if [ -n "$VERSION" ] && [ "$VERSION" != "$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)" ]; then
  { printf 'regvault (%s) unstable; urgency=medium\n\n  * Build of the working tree.\n\n -- %s  %s\n\n' \
      "$VERSION" "$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Maintainer)" "$(date -R)"
    cat "$ROOT/debian/changelog"; } >"$SRC/debian/changelog"
fi
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
# -nc: no clean first, which keeps the objects of the last build (see above).
(cd "$SRC" && nice dpkg-buildpackage -us -uc -b -nc -j"${RV_JOBS:-2}") >"$OUT/dpkg-buildpackage.log" 2>&1 ||
  { tail -30 "$OUT/dpkg-buildpackage.log" >&2; exit 1; }
mv "$OUT/src/regvault_${VERSION}_${ARCH}.deb" "$OUT/"
rm -f "$OUT"/src/regvault_"${VERSION}"_*.{buildinfo,changes} "$OUT"/src/regvault-dbgsym_"${VERSION}"_*.*deb
echo "$OUT/regvault_${VERSION}_${ARCH}.deb"
