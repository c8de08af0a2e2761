#!/usr/bin/env bash
# rpm/build.sh BUILD_DIR OUT_DIR VERSION: build regvault-VERSION-1.ARCH.rpm with rpmbuild.
set -euo pipefail
BUILD=$(cd "$1" && pwd) OUT=$(mkdir -p "$2" && cd "$2" && pwd) VERSION=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STAGE=$OUT/rpm-root
TOP=$OUT/rpmbuild
bash "$ROOT/packaging/stage.sh" "$BUILD" "$STAGE"
rm -rf "$TOP"
mkdir -p "$TOP"/{BUILD,RPMS,SOURCES,SPECS,SRPMS,BUILDROOT}
# Debian's rpmbuild cannot resolve Debian library packages: declare none automatically.
rpmbuild -bb --quiet --define "_topdir $TOP" --define "stage $STAGE" --define "rv_version $VERSION" \
  --define "_build_id_links none" --define "__requires_exclude ^.*$" --nodeps \
  "$ROOT/packaging/rpm/regvault.spec" >/dev/null
find "$TOP/RPMS" -name '*.rpm' -exec mv {} "$OUT/" \;
rm -rf "$STAGE" "$TOP"
ls "$OUT"/regvault-"$VERSION"-*.rpm
