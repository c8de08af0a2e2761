# snapshot save/list/verify/fetch/delete/prune against S3 (Ceph RGW), end to end,
# with interop through the aws CLI and faults through tests/tools/faultproxy.py.

setup_file() {
  start_rgw
  start_fault_proxy
  start_cluster "$T_FILE_DIR/c"
  # about 12 MB of values that do not compress well: artifacts of several 8 MiB parts
  head -c 9000000 /dev/urandom | base64 -w 100000 >"$T_FILE_DIR/values"
  i=0
  while read -r v; do ectl put "k$i" "$v" >/dev/null; i=$((i + 1)); done <"$T_FILE_DIR/values"
  ectl put hello world >/dev/null
  printf '%s\n' "$S3_SECRET_KEY" >"$T_FILE_DIR/secret"
  printf '%s\n' "wrongSecretKey000000000000000000000000000" >"$T_FILE_DIR/wrong-secret"
  chmod 600 "$T_FILE_DIR/secret" "$T_FILE_DIR/wrong-secret"
  BASE_CFG=$CFG
  export_env CFG ENDPOINTS BASE_CFG
  need_test_hooks # a save that gives up soon
}

teardown_file() {
  stop_fault_proxy
  stop_rgw
}

# s3cfg PREFIX [ENDPOINT [SECRET_FILE]]: CFG becomes a copy of the cluster's config
# with store.url s3://bucket/PREFIX
s3cfg() {
  local prefix=$1 ep=${2:-$S3_ENDPOINT} sf=${3:-$T_FILE_DIR/secret}
  CFG=$T/regvault.yaml
  sed "s|^  url: .*|  url: s3://$S3_BUCKET/$prefix\n  s3:\n    endpoint: $ep\n    access_key_id: $S3_ACCESS_KEY\n    secret_access_key_file: $sf\n    timeout_s: 5|" \
    "$BASE_CFG" >"$CFG"
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL
}
awss3() {
  AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION \
    aws --endpoint-url "$S3_ENDPOINT" "$@"
}
uploads() {
  awss3 s3api list-multipart-uploads --bucket "$S3_BUCKET" --prefix "$1" --output json | jq -r '.Uploads // [] | .[].Key'
}
objects() {
  awss3 s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$1" --output json | jq -r '.Contents // [] | .[].Key'
}
plan() { printf '%s\n' "$@" >"$PROXY_DIR/plan"; : >"$PROXY_DIR/log"; }
proxied() { grep -c "$1" "$PROXY_DIR/log"; }

test_save_list_verify_fetch_delete() {
  s3cfg e2e
  rv -o json snapshot save
  assert_ok
  local name size
  name=$(json_get .name)
  size=$(json_get .size)
  [ "$size" -gt 8388608 ] || fail "artifact of $size bytes does not exercise multipart upload"
  assert_eq "$(uploads e2e/)" "" "unfinished uploads"
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get '.[0].name')" "$name" "listed name"
  assert_eq "$(json_get '.[0].foreign')" false "foreign"
  assert_eq "$(json_get '.[0].size')" "$size" "listed size"
  rv snapshot verify latest
  assert_ok
  rv snapshot fetch latest "$T/fetched.db"
  assert_ok
  run etcdctl snapshot status "$T/fetched.db"
  assert_ok
  rv snapshot delete "$name"
  assert_ok
  assert_eq "$(objects e2e/)" "" "objects left after delete"
  rv snapshot verify "$name"
  assert_rc 1
}

test_interop_aws_cli_download_is_a_valid_artifact() {
  s3cfg interop
  rv -o json snapshot save --tag interop
  assert_ok
  local name
  name=$(json_get .name)
  run awss3 s3 cp "s3://$S3_BUCKET/interop/$name" "$T/local/$name"
  assert_ok
  # the copy is a complete artifact: regvault verifies it from a local store,
  # tar and etcdctl open it without regvault
  rv snapshot verify --store "$T/local" "$name"
  assert_ok
  rv snapshot fetch "$name" "$T/from-s3.db"
  assert_ok
  (cd "$T" && tar --zstd -xf "local/$name" snapshot.db) || fail "tar cannot extract the downloaded artifact"
  cmp "$T/from-s3.db" "$T/snapshot.db" || fail "fetch from S3 differs from the artifact's snapshot.db"
  # re-uploaded by the aws CLI (no sidecar): still a valid artifact in the listing
  rv snapshot delete "$name"
  assert_ok
  run awss3 s3 cp "$T/local/$name" "s3://$S3_BUCKET/interop/$name"
  assert_ok
  run awss3 s3 cp "$T_FILE_DIR/values" "s3://$S3_BUCKET/interop/notes.txt"
  assert_ok
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get ".[] | select(.name == \"$name\") | .foreign")" false "aws-uploaded artifact foreign"
  assert_eq "$(json_get '.[] | select(.name == "notes.txt") | .foreign')" true "aws-uploaded text file foreign"
  rv snapshot verify "$name"
  assert_ok
}

# path_style: false puts the bucket in the host name (BUCKET.localhost:PORT; curl
# resolves *.localhost to loopback by itself, RGW knows it by rgw dns name).
test_virtual_hosted_addressing() {
  s3cfg vhost "http://localhost:${S3_ENDPOINT##*:}"
  sed -i 's|^    timeout_s: 5|    timeout_s: 5\n    path_style: false|' "$CFG"
  rv -v -o json snapshot save
  assert_ok
  assert_err_contains "$S3_BUCKET.localhost"
  local name
  name=$(json_get .name)
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get '.[0].name')" "$name" "listed name"
  rv snapshot verify "$name"
  assert_ok
  rv snapshot delete "$name"
  assert_ok
  assert_eq "$(objects vhost/)" "" "objects left after delete"
  assert_eq "$(uploads vhost/)" "" "unfinished uploads"
  # a dotted bucket cannot be a host name under https: refused with the fix named
  sed -i "s|s3://$S3_BUCKET/|s3://my.dotted.bucket/|; s|endpoint: http://|endpoint: https://|" "$CFG"
  rv snapshot list
  [ "$RC" -ne 0 ] || fail "a dotted bucket with virtual-hosted https was accepted"
  assert_err_contains "bucket my.dotted.bucket has dots in its name"
  assert_err_contains "store.s3.path_style: true"
}

test_prune_keeps_what_retention_says() {
  s3cfg prune
  local t
  for t in a b c; do
    rv snapshot save --tag "$t"
    assert_ok
  done
  # tagged artifacts are kept unless keep_tagged is off (20-snapshot tests that)
  printf 'snapshot:\n  retention:\n    keep_last: 1\n    keep_tagged: false\n' >>"$CFG"
  rv -o json snapshot prune
  assert_ok
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get 'length')" 1 "artifacts after prune"
  [[ $(json_get '.[0].name') == *-c.tar.zst ]] || fail "prune did not keep the newest: $OUT"
}

test_wrong_secret_key_and_unknown_bucket() {
  s3cfg creds "$S3_ENDPOINT" "$T_FILE_DIR/wrong-secret"
  rv snapshot list
  assert_rc 1
  assert_err_contains "S3 rejected the credentials for bucket $S3_BUCKET: 403 SignatureDoesNotMatch"
  [[ $ERR != *wrongSecretKey* && $OUT != *wrongSecretKey* ]] || fail "the secret is in the output"
  rv snapshot save
  assert_rc 1
  assert_err_contains "S3 rejected the credentials for bucket $S3_BUCKET: 403 SignatureDoesNotMatch"
  s3cfg creds
  rv snapshot list --store s3://no-such-bucket/x
  assert_rc 1
  assert_err_contains "S3 bucket no-such-bucket does not exist"
}

test_save_retries_through_faults() {
  s3cfg faults "$PROXY"
  plan "status PUT partNumber=1 503" "dropreq PUT partNumber=2 2000000" "status POST uploadId= 500"
  rv snapshot save
  assert_ok
  assert_eq "$(proxied 'partNumber=2&')" 2 "requests for part 2"
  plan "dropresp GET .tar.zst 3000000"
  rv snapshot verify latest
  assert_ok
}

# list reads each artifact's sidecar once, with no lookup before (the listing
# showed it), all at once: against a distant endpoint a request per artifact,
# one after another, would add up.
# An artifact whose sidecar is gone is listed from its own manifest.
test_list_reads_one_sidecar_per_artifact() {
  s3cfg listing "$PROXY"
  local i
  for i in 1 2 3; do rv snapshot save --tag "n$i"; assert_ok; done
  plan "delay GET manifest.json 0.3 x*"
  : >"$PROXY_DIR/log.times"
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get 'length')" 3 "artifacts listed"
  assert_eq "$(proxied '^HEAD')" 0 "HEAD requests"
  assert_eq "$(proxied '^GET .*manifest.json')" 3 "sidecar GETs"
  assert_eq "$(most_at_once '^GET .*manifest.json')" 3 "sidecar GETs at once"
  plan
  local side
  side=$(objects listing/ | grep -m1 'manifest.json$')
  awss3 s3 rm --quiet "s3://$S3_BUCKET/$side"
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get '[.[] | select(.foreign | not)] | length')" 3 "artifacts listed without one sidecar"
}

test_save_that_cannot_finish_leaves_nothing() {
  s3cfg give-up "$PROXY"
  plan "status PUT partNumber=2 503 x*"
  REGVAULT_S3_MAX_ATTEMPTS=2 rv_hooked snapshot save
  assert_rc 1
  assert_err_contains "kept answering 503 SlowDown uploading part 2"
  plan
  assert_eq "$(objects give-up/)" "" "objects"
  assert_eq "$(uploads give-up/)" "" "unfinished uploads"
  rv snapshot list
  assert_ok
}
