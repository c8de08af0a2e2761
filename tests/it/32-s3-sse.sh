# S3 server-side encryption (store.s3.sse, store.s3.kms_key_id) against a real
# Ceph RGW and at tests/tools/faultproxy.py. The RGW here (Ceph 16, pacific) does
# SSE-KMS with its built-in 'testing' key store (tests/s3-rgw/start-rgw.sh sets up
# key testkey-1) but not SSE-S3: it takes x-amz-server-side-encryption: AES256,
# stores the object unencrypted and does not confirm it, which is the server a
# save must refuse. AES256 confirmed is played by the proxy adding the header.

if [[ $RV_BIN == */asan/* ]]; then ST=$(dirname "$RV_BIN")/store-tool; else ST=$RV_ROOT/build/hooks/store-tool; fi

setup_file() {
  if [[ $ST == */asan/* ]]; then make -s -C "$RV_ROOT" SAN=1 build/asan/store-tool >/dev/null
  else make -s -C "$RV_ROOT" HOOKS=1 build/hooks/store-tool >/dev/null; fi
  start_rgw
  start_fault_proxy
  start_cluster "$T_FILE_DIR/c"
  # about 12 MB of values that do not compress well: artifacts of two 8 MiB parts
  head -c 9000000 /dev/urandom | base64 -w 100000 >"$T_FILE_DIR/values"
  i=0
  while read -r v; do ectl put "k$i" "$v" >/dev/null; i=$((i + 1)); done <"$T_FILE_DIR/values"
  ectl put hello world >/dev/null
  printf '%s\n' "$S3_SECRET_KEY" >"$T_FILE_DIR/secret"
  chmod 600 "$T_FILE_DIR/secret"
  head -c 1000 /dev/urandom >"$T_FILE_DIR/small"
  BASE_CFG=$CFG
  export_env CFG ENDPOINTS BASE_CFG
}

teardown_file() {
  stop_fault_proxy
  stop_rgw
}

# s3cfg PREFIX ENDPOINT [SSE [KMS_KEY_ID]]: CFG becomes the cluster's config with
# store.url s3://bucket/PREFIX and the encryption asked for
s3cfg() {
  local prefix=$1 ep=$2 sse=${3:-} kms=${4:-} extra=""
  [ -n "$sse" ] && extra="\n    sse: $sse"
  [ -n "$kms" ] && extra="$extra\n    kms_key_id: $kms"
  CFG=$T/regvault.yaml
  sed "s|^  url: .*|  url: s3://$S3_BUCKET/$prefix\n  s3:\n    endpoint: $ep\n    access_key_id: $S3_ACCESS_KEY\n    secret_access_key_file: $T_FILE_DIR/secret\n    timeout_s: 5$extra|" \
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
head_sse() { # head_sse KEY: "SSE KMS_KEY_ID" as S3 reports them for the object
  awss3 s3api head-object --bucket "$S3_BUCKET" --key "$1" --output json |
    jq -r '"\(.ServerSideEncryption // "none") \(.SSEKMSKeyId // "-")"'
}
plan() { printf '%s\n' "$@" >"$PROXY_DIR/plan"; : >"$PROXY_DIR/log"; : >"$PROXY_DIR/log.headers"; }
# sent REQUEST_REGEX: the x-amz headers and signed names of the first request matching
sent() { awk -v re="$1" '/^[A-Z]/ { on = ($0 ~ re) && !done; if (on) done = 1; next } on' "$PROXY_DIR/log.headers"; }
no_sse_left() { # no_sse_left PREFIX: nothing listed, no object, no unfinished upload
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get 'length')" 0 "artifacts listed"
  assert_eq "$(objects "$1")" "" "objects"
  assert_eq "$(uploads "$1")" "" "unfinished uploads"
}

# A save with SSE-KMS: every upload asks for it in signed headers (the parts do
# not: S3 refuses it there), RGW keeps the objects encrypted, and they read back.
test_kms_save_is_encrypted_by_rgw_and_restores() {
  s3cfg kms "$PROXY" aws:kms testkey-1
  plan
  rv -o json snapshot save
  assert_ok
  local name size
  name=$(json_get .name)
  size=$(json_get .size)
  [ "$size" -gt 8388608 ] || fail "artifact of $size bytes does not exercise multipart upload"
  sent "^POST .*/kms/$name\\?uploads" >"$T/create"
  grep -qx "  x-amz-server-side-encryption: aws:kms" "$T/create" || fail "no SSE header on CreateMultipartUpload: $(cat "$T/create")"
  grep -qx "  x-amz-server-side-encryption-aws-kms-key-id: testkey-1" "$T/create" || fail "no KMS key id: $(cat "$T/create")"
  grep -q "^  signed: .*;x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id" "$T/create" ||
    fail "SSE headers not signed: $(cat "$T/create")"
  local side=${name%.tar.zst}.manifest.json
  sent "^PUT .*/kms/$side" >"$T/sidecar"
  grep -qx "  x-amz-server-side-encryption: aws:kms" "$T/sidecar" || fail "no SSE header on the sidecar's PUT: $(cat "$T/sidecar")"
  sent "^PUT .*partNumber=1&" >"$T/part"
  ! grep -q "server-side-encryption" "$T/part" || fail "SSE header on UploadPart: $(cat "$T/part")"
  # what S3 and RGW itself say about the objects
  assert_eq "$(head_sse "kms/$name")" "aws:kms testkey-1" "artifact encryption"
  assert_eq "$(head_sse "kms/$side")" "aws:kms testkey-1" "sidecar encryption"
  timeout 60 radosgw-admin -c "$RGW_DIR/ceph.conf" object stat --bucket="$S3_BUCKET" --object="kms/$name" 2>/dev/null |
    grep -a '"user.rgw.crypt.mode"' >"$T/mode"
  grep -q '"SSE-KMS"' "$T/mode" || fail "RGW did not store the artifact encrypted: $(cat "$T/mode")"
  # and everything reads it back (RGW decrypts)
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get '.[0].name')" "$name" "listed name"
  rv snapshot verify latest
  assert_ok
  rv snapshot fetch latest "$T/fetched.db"
  assert_ok
  run etcdctl snapshot status "$T/fetched.db"
  assert_ok
  local before
  before=$(ectl get --prefix "" | sha256sum)
  ectl put after-save x >/dev/null
  rv -o json restore --from latest --yes --force
  assert_ok
  assert_eq "$(json_get .result)" restored "restore result"
  assert_eq "$(ectl get --prefix "" | sha256sum)" "$before" "data after restore"
}

# RGW 16 takes AES256 but neither encrypts nor confirms: nothing is published.
test_aes256_not_confirmed_by_rgw_publishes_nothing() {
  s3cfg aes-rgw "$S3_ENDPOINT" AES256
  rv snapshot save
  assert_rc 1
  assert_err_contains "the S3 server did not confirm server-side encryption AES256 for "
  assert_err_contains "(no x-amz-server-side-encryption header), so it was not published; check that the bucket and the server at $S3_ENDPOINT support store.s3.sse: AES256"
  no_sse_left aes-rgw/
}

# A server that confirms AES256 (the proxy adds the header RGW leaves out).
test_aes256_confirmed_is_published() {
  s3cfg aes-ok "$PROXY" AES256
  plan "addhdr * * x-amz-server-side-encryption:AES256 x*"
  rv -o json snapshot save
  assert_ok
  local name
  name=$(json_get .name)
  sent "^POST .*/aes-ok/$name\\?uploads" >"$T/create"
  grep -qx "  x-amz-server-side-encryption: AES256" "$T/create" || fail "no SSE header: $(cat "$T/create")"
  ! grep -q "kms-key-id" "$T/create" || fail "a KMS key id with AES256: $(cat "$T/create")"
  plan
  rv -o json snapshot list
  assert_ok
  assert_eq "$(json_get '.[0].name')" "$name" "listed name"
}

# The answers drop the header at each point a save checks it: the upload's start
# (aborted before any part), the object after completion (deleted), a single PUT
# (deleted).
test_server_dropping_the_sse_header_fails_the_save() {
  s3cfg drop "$PROXY" aws:kms testkey-1
  plan "striphdr POST ?uploads= x-amz-server-side-encryption"
  rv snapshot save
  assert_rc 1
  assert_err_contains "the S3 server did not confirm server-side encryption aws:kms for "
  assert_eq "$(grep -c '^PUT .*partNumber' "$PROXY_DIR/log")" 0 "parts sent"
  plan
  no_sse_left drop/
  plan "striphdr HEAD * x-amz-server-side-encryption x*"
  rv snapshot save
  assert_rc 1
  assert_err_contains "the S3 server did not confirm server-side encryption aws:kms for "
  grep -q '^POST .*uploadId=' "$PROXY_DIR/log" || fail "the upload was not completed before the check"
  grep -q '^DELETE /[^?]*\.tar\.zst pass' "$PROXY_DIR/log" || fail "the completed object was not deleted: $(cat "$PROXY_DIR/log")"
  plan
  no_sse_left drop/
  # a small object (one PUT) through the store API
  export STORE_URL="s3://$S3_BUCKET/drop-single" AWS_ENDPOINT_URL=$PROXY STORE_S3_SSE=aws:kms STORE_S3_KMS_KEY_ID=testkey-1
  export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION
  plan "striphdr PUT * x-amz-server-side-encryption"
  run "$ST" put "$T_FILE_DIR/small" one.bin 1000
  assert_rc 1
  assert_err_contains "did not confirm server-side encryption aws:kms for one.bin"
  grep -q '^DELETE /[^?]*one.bin pass' "$PROXY_DIR/log" || fail "the object was not deleted: $(cat "$PROXY_DIR/log")"
  assert_eq "$(objects drop-single/)" "" "objects"
  plan
  run "$ST" put "$T_FILE_DIR/small" one.bin 1000
  assert_ok
  assert_eq "$(head_sse drop-single/one.bin)" "aws:kms testkey-1" "single PUT encryption"
}

# A KMS key RGW does not know: RGW's refusal, nothing left.
test_unknown_kms_key_is_refused_by_rgw() {
  s3cfg nokey "$S3_ENDPOINT" aws:kms no-such-key
  rv snapshot save
  assert_rc 1
  assert_err_contains "S3 refused starting the upload of "
  assert_err_contains "asking for server-side encryption aws:kms (KMS key no-such-key): 403 InvalidAccessKeyId; check that the server supports it and lets these credentials use the key (store.s3.sse, store.s3.kms_key_id)"
  no_sse_left nokey/
}

test_bad_sse_settings_are_refused_at_config_load() {
  s3cfg bad "$S3_ENDPOINT" aes256
  rv snapshot list
  assert_rc 2
  assert_err_contains "store.s3.sse must be AES256 or aws:kms"
  s3cfg bad "$S3_ENDPOINT" AES256 testkey-1
  rv snapshot list
  assert_rc 2
  assert_err_contains "store.s3.kms_key_id goes only with store.s3.sse: aws:kms"
  s3cfg bad "$S3_ENDPOINT" "" testkey-1
  rv snapshot list
  assert_rc 2
  assert_err_contains "store.s3.kms_key_id goes only with store.s3.sse: aws:kms"
}
