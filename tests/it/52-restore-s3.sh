# Restore and drill from an S3 store (a real Ceph RGW): the restore path reads the
# artifact only through the store API, so S3 and a local directory behave alike.

setup_file() {
  start_rgw
}

teardown_file() {
  stop_rgw
}

need_s3() { [ -n "${S3_ENDPOINT:-}" ] || skip "no S3 test server here (tests/s3-rgw and Ceph RGW are needed)"; }


# A cluster whose configured store is s3://bucket/PREFIX; the local directory
# $T/c/backups stays usable with --store.
s3_cluster() { # s3_cluster PREFIX
  start_cluster "$T/c" || fail "cluster up failed"
  printf '%s\n' "$S3_SECRET_KEY" >"$T/s3-secret"
  chmod 600 "$T/s3-secret"
  sed -i "s|^  url: .*/backups\$|  url: s3://$S3_BUCKET/$1|" "$CFG"
  sed -i "/^  url: s3:/a\\  s3:\\n    endpoint: $S3_ENDPOINT\\n    region: $S3_REGION\\n    access_key_id: $S3_ACCESS_KEY\\n    secret_access_key_file: $T/s3-secret" "$CFG"
  S3_URL=s3://$S3_BUCKET/$1
}

member_dump() { etcdctl --endpoints="$1" --consistency=s --command-timeout=10s get --prefix ""; }

test_restore_from_s3() {
  need_s3
  s3_cluster restore-s3
  local i
  for i in $(seq 1 30); do ectl put "/s3/$i" "v$i" >/dev/null; done
  rv snapshot save
  assert_ok
  assert_out_contains "s3://"
  SNAPDUMP=$(ectl get --prefix "")
  ectl put /s3/later x >/dev/null; ectl del /s3/1 >/dev/null
  rv -o json restore --from latest --yes --force
  assert_ok
  assert_eq "$(json_get .result)" restored result
  assert_eq "$(json_get .store)" "$S3_URL" store
  for ep in ${ENDPOINTS//,/ }; do
    [ "$(member_dump "$ep")" == "$SNAPDUMP" ] || fail "member $ep does not hold the snapshot's data"
  done
}

test_corrupted_s3_artifact_is_refused_before_any_member_stops() {
  need_s3
  s3_cluster corrupt-s3
  ectl put /s3/a 1 >/dev/null
  rv -o json snapshot save
  assert_ok
  local name pids_before
  name=$(json_get .name)
  # Replace the object with a damaged copy of itself.
  AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION \
    aws --endpoint-url "$S3_ENDPOINT" s3 cp "s3://$S3_BUCKET/corrupt-s3/$name" "$T/art" >/dev/null || skip "aws CLI cannot reach RGW"
  printf '\xde\xad\xbe\xef' | dd of="$T/art" bs=1 seek=$(($(stat -c %s "$T/art") / 2)) conv=notrunc 2>/dev/null
  AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION \
    aws --endpoint-url "$S3_ENDPOINT" s3 cp "$T/art" "s3://$S3_BUCKET/corrupt-s3/$name" >/dev/null
  pids_before=$(cat "$T"/c/etcd*.pid)
  rv restore --from "$name" --yes --force
  assert_rc 1
  assert_eq "$(cat "$T"/c/etcd*.pid)" "$pids_before" "member pids"
  ! ls -d "$T/c/"*.before-restore-* >/dev/null 2>&1 || fail "data dirs were moved"
}

test_drill_against_both_stores() {
  need_s3
  s3_cluster drill-s3
  ectl put /s3/a 1 >/dev/null; ectl put /s3/b 2 >/dev/null
  rv snapshot save
  assert_ok
  rv snapshot save --store "$T/c/backups"
  assert_ok
  mkdir -p "$T/tmp"
  TMPDIR=$T/tmp rv -o json drill
  assert_ok
  assert_eq "$(json_get .store)" "$S3_URL" "store of the S3 drill"
  assert_eq "$(json_get .key_count)" 2 "key count from S3"
  TMPDIR=$T/tmp rv -o json drill --store "$T/c/backups"
  assert_ok
  assert_eq "$(json_get .store)" "$T/c/backups" "store of the local drill"
  assert_eq "$(json_get .key_count)" 2 "key count from the local store"
  assert_eq "$(ls "$T/c/state/drills" | wc -l)" 2 "reports"
}
