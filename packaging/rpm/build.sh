#!/usr/bin/env bash
# rpm/build.sh OUT_DIR [VERSION]: regvault-VERSION-1.ARCH.rpm built from source by
# rpmbuild with packaging/rpm/regvault.spec, from a tarball of the working tree.
# On Debian (the tests) the BuildRequires are Fedora names rpm cannot resolve: --nodeps.
set -euo pipefail
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=${2:-$(sed -n 's/^Version: *//p' "$ROOT/packaging/rpm/regvault.spec")}
TOP=$OUT/rpmbuild
rm -rf "$TOP"
mkdir -p "$TOP"/{BUILD,RPMS,SOURCES,SPECS,SRPMS,BUILDROOT}
# The tree as it is (uncommitted changes included), without build output or git, and
# without what the rpm does not use: debian/, and tests/ (there is no %check: the tests
# need etcd clusters and an S3 server); sorted, and gzip without a time stamp, so the
# same tree makes the same tarball.
tar -C "$ROOT" --exclude=./build --exclude=./.git --exclude=./debian --exclude=./tests --sort=name --transform "s,^\.,regvault-$VERSION," \
  -cf "$TOP/SOURCES/regvault-$VERSION.tar" .
# The same tree and version built before: that package is the answer (a full build
# takes minutes on a busy machine, and the tests ask for it every run).
stamp=$(sha256sum "$TOP/SOURCES/regvault-$VERSION.tar" | cut -d' ' -f1)
if [ -f "$OUT/regvault-$VERSION.rpm-source" ] && [ "$(cat "$OUT/regvault-$VERSION.rpm-source")" = "$stamp" ] &&
  ls "$OUT"/regvault-"$VERSION"-1*.rpm >/dev/null 2>&1; then
  rm -rf "$TOP"
  ls "$OUT"/regvault-"$VERSION"-1*.rpm
  exit 0
fi
rm -f "$OUT"/regvault-"$VERSION"-1*.rpm "$OUT/regvault-$VERSION.rpm-source"
gzip -n "$TOP/SOURCES/regvault-$VERSION.tar"
# Another VERSION (a test build) gets a %changelog entry of its own, as the deb's does.
entry=
if [ "$VERSION" != "$(sed -n 's/^Version: *//p' "$ROOT/packaging/rpm/regvault.spec")" ]; then
  entry="* $(LC_ALL=C date -u '+%a %b %d %Y') regvault developers <regvault@example.org> - $VERSION-1\n- Build of the working tree.\n"
fi
sed -e "s/^Version: .*/Version:        $VERSION/" -e "s/^%changelog\$/%changelog\n$entry/" \
  "$ROOT/packaging/rpm/regvault.spec" >"$TOP/SPECS/regvault.spec"
nice rpmbuild -bb --quiet --nodeps --define "_topdir $TOP" --define "_build_id_links none" \
  --define "_smp_mflags -j${RV_JOBS:-2}" "$TOP/SPECS/regvault.spec" >"$OUT/rpmbuild.log" 2>&1 ||
  { tail -30 "$OUT/rpmbuild.log" >&2; exit 1; }
find "$TOP/RPMS" -name '*.rpm' -exec mv {} "$OUT/" \;
echo "$stamp" >"$OUT/regvault-$VERSION.rpm-source"
rm -rf "$TOP"
ls "$OUT"/regvault-"$VERSION"-1*.rpm
