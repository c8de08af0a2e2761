# The S3 store (snapshot/store_s3.c) against a real S3 server (Ceph RGW), driven
# through the store API by build/store-tool; faults through tests/tools/faultproxy.py.

# the sanitizer build beside the regvault under test, when that is the one tested,
# else the normal flags with the test hooks (REGVAULT_S3_MAX_ATTEMPTS...) compiled in
if [[ $RV_BIN == */asan/* ]]; then ST=$(dirname "$RV_BIN")/store-tool; else ST=$RV_ROOT/build/hooks/store-tool; fi

setup_file() {
  if [[ $ST == */asan/* ]]; then make -s -C "$RV_ROOT" SAN=1 build/asan/store-tool >/dev/null
  else make -s -C "$RV_ROOT" HOOKS=1 build/hooks/store-tool >/dev/null; fi
  start_rgw
  start_fault_proxy
  head -c 150000 /dev/urandom >"$T_FILE_DIR/small"
  head -c 20000000 /dev/urandom >"$T_FILE_DIR/big" # 3 parts of 8 MiB
}

teardown_file() {
  stop_fault_proxy
  stop_rgw
}

# s3env PREFIX [ENDPOINT]: the store-tool's environment for s3://bucket/PREFIX
s3env() {
  export STORE_URL="s3://$S3_BUCKET/$1" AWS_ENDPOINT_URL=${2:-$S3_ENDPOINT}
  export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY AWS_DEFAULT_REGION=$S3_REGION
  unset AWS_REGION AWS_SESSION_TOKEN
}
awss3() { aws --endpoint-url "$S3_ENDPOINT" "$@"; }
# the unfinished multipart uploads under a prefix, one key per line
uploads() {
  awss3 s3api list-multipart-uploads --bucket "$S3_BUCKET" --prefix "$1" --encoding-type url --output json |
    jq -r '.Uploads // [] | .[].Key'
}
# plan RULE...: the fault proxy's rules for the next requests
plan() { printf '%s\n' "$@" >"$PROXY_DIR/plan"; : >"$PROXY_DIR/log"; }
proxied() { grep -c "$1" "$PROXY_DIR/log"; }

# A save whose name another save took meanwhile (two in one millisecond): a local
# store publishes it under the next name; S3 cannot rename an upload, so it is not
# published, and nothing is replaced.
test_commit_to_a_taken_name_never_replaces() {
  s3env taken
  head -c 1000 /dev/urandom >"$T/other"
  run "$ST" put "$T_FILE_DIR/small" a.tar.zst
  assert_ok
  run "$ST" put-next "$T/other" a.tar.zst
  assert_rc 1
  assert_err_contains "a.tar.zst was published in store s3://$S3_BUCKET/taken by another save while this one ran, so this one was not published (nothing was replaced)"
  run "$ST" get a.tar.zst "$T/out"
  cmp "$T_FILE_DIR/small" "$T/out" || fail "the first object was replaced"
  assert_eq "$(uploads taken/)" "" "unfinished uploads"
  run "$ST" put-next "$T/other" b.tar.zst
  assert_ok
  # the same on a local store: published under the next name
  STORE_URL=$T/local
  mkdir -p "$T/local"
  run "$ST" put "$T_FILE_DIR/small" a.tar.zst
  assert_ok
  run "$ST" put-next "$T/other" a.tar.zst
  assert_ok
  cmp "$T_FILE_DIR/small" "$T/local/a.tar.zst" || fail "the first local object was replaced"
  cmp "$T/other" "$T/local/a.tar.zst.next" || fail "the second one is not under the next name"
}

test_small_object_put_get_is_byte_identical() {
  s3env small "$PROXY"
  plan
  # known to be small: one PUT
  run "$ST" put "$T_FILE_DIR/small" a.tar.zst 150000
  assert_ok
  assert_eq "$(cat "$PROXY_DIR/log")" "PUT /$S3_BUCKET/small/a.tar.zst pass" "requests"
  # size unknown: a multipart upload of one part
  run "$ST" put "$T_FILE_DIR/small" b.tar.zst
  assert_ok
  run "$ST" get b.tar.zst "$T/out"
  assert_ok
  cmp "$T_FILE_DIR/small" "$T/out" || fail "downloaded object differs"
  run "$ST" get a.tar.zst "$T/out"
  assert_ok
  cmp "$T_FILE_DIR/small" "$T/out" || fail "downloaded object differs"
  run "$ST" stat a.tar.zst
  assert_ok
  assert_out_contains $'a.tar.zst\t150000\t'
  # an empty object, size unknown beforehand
  run "$ST" put /dev/null empty
  assert_ok
  run "$ST" stat empty
  assert_ok
  assert_out_contains $'empty\t0\t'
  run "$ST" get empty "$T/empty"
  assert_ok
  assert_eq "$(stat -c %s "$T/empty")" 0 "size of the empty object"
  assert_eq "$(uploads small/)" "" "unfinished uploads"
}

test_multipart_put_get_is_byte_identical_and_ranged_reads() {
  s3env multi
  run "$ST" put "$T_FILE_DIR/big" big.tar.zst 20000000
  assert_ok
  assert_eq "$(uploads multi/)" "" "unfinished uploads"
  run "$ST" get big.tar.zst "$T/out"
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/out" || fail "downloaded multipart object differs"
  run "$ST" get big.tar.zst "$T/range" 8388600 20
  assert_ok
  cmp "$T/range" <(tail -c +8388601 "$T_FILE_DIR/big" | head -c 20) || fail "ranged read differs"
  run "$ST" get big.tar.zst "$T/tail" 19999990
  assert_ok
  assert_eq "$(stat -c %s "$T/tail")" 10 "size of the tail read"
}

test_sequential_ranged_reads_are_read_ahead() {
  s3env readahead "$PROXY"
  plan
  run "$ST" put "$T_FILE_DIR/big" r.tar.zst
  assert_ok
  : >"$PROXY_DIR/log"
  # as the artifact reader does: 64 KiB, then 1 MiB at a time until a short read
  run "$ST" getchunks r.tar.zst "$T/out" 1048576 65536
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/out" || fail "chunked read differs"
  assert_eq "$(proxied 'GET .*r.tar.zst')" 4 "GET requests for 20 MB read 1 MiB at a time"
  # reading at or past the end delivers nothing, like pread
  run "$ST" get r.tar.zst "$T/past" 20000000 100
  assert_ok
  assert_eq "$(stat -c %s "$T/past")" 0 "bytes read past the end"
}

test_interop_with_aws_cli() {
  s3env interop
  run "$ST" put "$T_FILE_DIR/big" by-regvault.tar.zst
  assert_ok
  run awss3 s3 cp "s3://$S3_BUCKET/interop/by-regvault.tar.zst" "$T/by-aws"
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/by-aws" || fail "aws s3 cp download differs from what regvault uploaded"
  run awss3 s3 cp "$T_FILE_DIR/big" "s3://$S3_BUCKET/interop/by-aws.bin"
  assert_ok
  run "$ST" get by-aws.bin "$T/by-regvault"
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/by-regvault" || fail "regvault download of an aws-uploaded object differs"
  run "$ST" ls
  assert_ok
  assert_out_contains "by-aws.bin"
}

test_list_pages_through_more_than_1000_objects() {
  s3env many
  run "$ST" putmany 1005 obj-
  assert_ok
  run "$ST" ls
  assert_ok
  assert_eq "$(wc -l <<<"$OUT")" 1005 "objects listed"
  assert_out_contains $'obj-000000\t10\t'
  assert_out_contains $'obj-001004\t10\t'
  # one name's prefix and the names after one (a chain's tail): listed by S3 itself
  run "$ST" ls obj-0010 obj-001001
  assert_ok
  assert_eq "$(cut -f1 <<<"$OUT" | tr '\n' ' ')" "obj-001002 obj-001003 obj-001004 " "names after obj-001001"
  run "$ST" ls "" obj-000003
  assert_ok
  assert_eq "$(wc -l <<<"$OUT")" 1001 "objects after obj-000003, over two pages"
  assert_out_not_contains $'obj-000003\t'
  # a neighbour prefix is not part of the store
  s3env many-not
  run "$ST" put "$T_FILE_DIR/small" other
  s3env many
  run "$ST" ls
  assert_out_not_contains "other"
}

# put_list_get NAME...: each name stored, listed exactly as stored, read back
put_list_get() {
  local n listing
  for n in "$@"; do
    run "$ST" put "$T_FILE_DIR/small" "$n"
    assert_ok
  done
  run "$ST" ls
  assert_ok
  assert_eq "$(wc -l <<<"$OUT")" $# "objects listed"
  listing=$OUT
  for n in "$@"; do
    [[ $listing == *"$n"$'\t150000'* ]] || fail "'$n' is not listed as it was stored"
    run "$ST" get "$n" "$T/out"
    assert_ok
    cmp "$T_FILE_DIR/small" "$T/out" || fail "object '$n' differs"
  done
}

test_names_and_prefixes_that_must_be_encoded() {
  s3env 'we ird+pre=fix&/sub~dir'
  put_list_get 'a b+c=d&e.tar.zst' 'ümlaut~x*y(1)!' "quo'te\"<>#?%25" 'x/..y/./z' 'semi;colon,comma$@:'
  # the keys S3 holds are exactly prefix + name
  run awss3 s3api head-object --bucket "$S3_BUCKET" --key 'we ird+pre=fix&/sub~dir/a b+c=d&e.tar.zst'
  assert_ok
}

# Large reads that follow each other (4 MiB, as a restore reads its artifact) are
# fetched parts_in_flight ranges at once, in order, byte-identical; one range
# dropped half way is resumed.
test_large_sequential_reads_are_fetched_ahead_in_parallel() {
  s3env prefetch "$PROXY"
  plan
  run "$ST" put "$T_FILE_DIR/big" r.tar.zst
  assert_ok
  local n most
  for n in 1 2 3; do
    plan "delay GET r.tar.zst 0.3 x*"
    : >"$PROXY_DIR/log.times"
    STORE_S3_PARTS_IN_FLIGHT=$n run "$ST" getchunks r.tar.zst "$T/out" 4194304 65536
    assert_ok
    cmp "$T_FILE_DIR/big" "$T/out" || fail "read with $n ranges in flight differs"
    most=$(most_at_once '^GET .*r.tar.zst')
    assert_eq "$most" "$n" "ranges in flight at most (parts_in_flight $n)"
  done
  plan "dropresp GET r.tar.zst 3000000" "dropresp GET r.tar.zst 3000000"
  STORE_S3_PARTS_IN_FLIGHT=3 run "$ST" getchunks r.tar.zst "$T/out" 4194304 65536
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/out" || fail "read with dropped ranges differs"
  plan
}

# An object replaced while it is read range by range fails the read with the
# reason, whether the range was read directly or fetched ahead: never a splice.
test_object_replaced_during_a_ranged_read_is_an_error() {
  s3env replaced "$PROXY"
  plan
  head -c 20000000 /dev/urandom >"$T/other"
  local gets
  for gets in 2 3; do
    run "$ST" put "$T_FILE_DIR/big" r.tar.zst
    assert_ok
    plan "delay GET r.tar.zst 2 x*" # room for the aws CLI to start on a loaded machine
    "$ST" getchunks r.tar.zst "$T/out" 4194304 65536 >"$T/gc.out" 2>"$T/gc.err" &
    local pid=$! i
    # the replacement lands while GET number $gets waits at the proxy
    for i in $(seq 100); do [ "$(proxied 'GET .*r.tar.zst')" -ge "$gets" ] && break; sleep 0.05; done
    awss3 s3 cp --quiet "$T/other" "s3://$S3_BUCKET/replaced/r.tar.zst"
    wait "$pid" && fail "a read across a replacement succeeded (GET $gets)"
    grep -q "was replaced while it was being read" "$T/gc.err" || fail "GET $gets: $(cat "$T/gc.err")"
  done
  plan
}

# Keys XML 1.0 cannot carry (control characters) come back intact: listings ask
# for encoding-type=url. Names here are only what an upload by another tool may
# leave in the prefix; the list must neither break nor garble them.
test_names_with_control_characters_list_and_read_back() {
  s3env ctl
  put_list_get $'bell\x01.tar.zst' $'cr\rlf.tar.zst' $'del\x7fx' $'esc\x1b[0m' 'plain+plus and space'
  # unfinished uploads under such keys are found and removed by cleanup (the aws
  # CLI cannot parse RGW's listing of the control character: our own log says it)
  run "$ST" put-exit "$T_FILE_DIR/big" 'kil led+%41.tar.zst'
  assert_ok
  run "$ST" put-exit "$T_FILE_DIR/big" $'killed\x02.tar.zst'
  assert_ok
  REGVAULT_S3_CLEANUP_AGE_S=0 run "$ST" cleanup
  assert_ok
  assert_err_contains 'upload of ctl/killed\x02.tar.zst started' # escaped on the terminal
  assert_err_contains 'upload of ctl/kil led+%41.tar.zst started'
  run "$ST" put-exit "$T_FILE_DIR/big" 'kil led+%41.tar.zst'
  assert_eq "$(uploads ctl/ | wc -l)" 1 "unfinished uploads after a killed writer"
  REGVAULT_S3_CLEANUP_AGE_S=0 run "$ST" cleanup
  assert_ok
  assert_eq "$(uploads ctl/)" "" "unfinished uploads after cleanup"
}

test_delete_and_missing_objects() {
  s3env del
  run "$ST" put "$T_FILE_DIR/small" gone.tar.zst
  assert_ok
  run "$ST" rm gone.tar.zst
  assert_ok
  run "$ST" stat gone.tar.zst
  assert_rc 1
  assert_err_contains "s3://$S3_BUCKET/del has no object gone.tar.zst"
  run "$ST" get gone.tar.zst "$T/out"
  assert_rc 1
  assert_err_contains "has no object gone.tar.zst"
  run "$ST" rm gone.tar.zst
  assert_rc 1
  assert_err_contains "has no object gone.tar.zst"
}

test_wrong_secret_key_is_one_sentence_without_secrets() {
  s3env creds
  export AWS_SECRET_ACCESS_KEY=notTheRightSecretKey0000000000000000000000
  run "$ST" put "$T_FILE_DIR/small" x
  assert_rc 1
  assert_err_contains "S3 rejected the credentials for bucket $S3_BUCKET: 403 SignatureDoesNotMatch"
  [[ $ERR != *notTheRightSecretKey* && $ERR != *"$S3_SECRET_KEY"* ]] || fail "a secret is in the message"
  run "$ST" stat x
  assert_rc 1
  assert_err_contains "S3 rejected the credentials for bucket $S3_BUCKET: 403 SignatureDoesNotMatch"
  export AWS_ACCESS_KEY_ID=NOSUCHACCESSKEY00000
  run "$ST" ls
  assert_rc 1
  assert_err_contains "S3 rejected the credentials for bucket $S3_BUCKET: 403 InvalidAccessKeyId"
}

test_wrong_credentials_fail_before_anything_is_streamed() {
  s3env creds
  export AWS_SECRET_ACCESS_KEY=notTheRightSecretKey0000000000000000000000
  # the store-tool reads nothing from a FIFO nobody writes: put_begin must fail first
  mkfifo "$T/fifo"
  run timeout 20 "$ST" put "$T/fifo" x
  assert_rc 1
  assert_err_contains "S3 rejected the credentials for bucket $S3_BUCKET: 403 SignatureDoesNotMatch"
}

test_missing_credentials_is_configuration_error() {
  s3env creds
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  run "$ST" ls
  assert_rc 2
  assert_err_contains "has no credentials"
}

test_unknown_bucket() {
  s3env x
  export STORE_URL=s3://no-such-bucket/x
  run "$ST" ls
  assert_rc 1
  assert_err_contains "S3 bucket no-such-bucket does not exist at $S3_ENDPOINT: 404 NoSuchBucket"
  run "$ST" put "$T_FILE_DIR/small" y
  assert_rc 1
  assert_err_contains "S3 bucket no-such-bucket does not exist"
  run "$ST" stat y
  assert_rc 1
  assert_err_contains "S3 bucket no-such-bucket does not exist"
}

test_unreachable_endpoint_after_bounded_retries() {
  local port
  port=$(free_port)
  s3env x "http://127.0.0.1:$port"
  REGVAULT_S3_MAX_ATTEMPTS=3 run "$ST" ls
  assert_rc 1
  assert_err_contains "S3 endpoint http://127.0.0.1:$port is unreachable"
  assert_err_contains "3 attempts"
}

test_tls_failure_is_reported() {
  s3env x "https://${S3_ENDPOINT#http://}"
  run "$ST" ls
  assert_rc 1
  assert_err_contains "the TLS connection to S3 endpoint https://${S3_ENDPOINT#http://} failed"
}

test_fault_part_upload_retried_after_drop_500_503() {
  s3env fault-part "$PROXY"
  plan "status PUT partNumber=1 503" "dropreq PUT partNumber=2 3000000" "status PUT partNumber=3 500" \
    "status PUT partNumber=3 400:RequestTimeout" "status POST uploadId= 500"
  run "$ST" put "$T_FILE_DIR/big" f.tar.zst
  assert_ok
  assert_eq "$(proxied 'partNumber=2&')" 2 "requests for part 2"
  assert_eq "$(proxied 'partNumber=3&')" 3 "requests for part 3 (500, 400 RequestTimeout, ok)"
  assert_eq "$(proxied 'POST .*uploadId=')" 2 "complete requests"
  run "$ST" get f.tar.zst "$T/out"
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/out" || fail "object differs after retried parts"
  assert_eq "$(uploads fault-part/)" "" "unfinished uploads"
}

# store.s3.parts_in_flight parts go up at once, each on its own connection (the
# proxy holds every part 0.5 s, so parts that may overlap do), and the object is
# still assembled in order.
test_parts_upload_in_parallel_up_to_parts_in_flight() {
  s3env inflight "$PROXY"
  local n most
  for n in 1 2 3; do
    plan "delay PUT partNumber= 0.5 x*"
    : >"$PROXY_DIR/log.times"
    STORE_S3_PARTS_IN_FLIGHT=$n run "$ST" put "$T_FILE_DIR/big" "p$n.tar.zst"
    assert_ok
    most=$(most_at_once '^PUT .*partNumber=')
    assert_eq "$most" "$n" "parts in flight at most (parts_in_flight $n)"
    run "$ST" get "p$n.tar.zst" "$T/out"
    assert_ok
    cmp "$T_FILE_DIR/big" "$T/out" || fail "object differs with $n parts in flight"
  done
  plan
  assert_eq "$(uploads inflight/)" "" "unfinished uploads"
}

# A part that fails for good while others are in flight: the first failure is
# the one reported, and nothing is left behind.
test_failed_part_among_parallel_parts_leaves_nothing() {
  s3env inflight-fail "$PROXY"
  plan "delay PUT partNumber=1 0.5 x*" "status PUT partNumber=2 500 x*"
  STORE_S3_PARTS_IN_FLIGHT=3 REGVAULT_S3_MAX_ATTEMPTS=2 run "$ST" put "$T_FILE_DIR/big" f.tar.zst
  assert_rc 1
  assert_err_contains "uploading part 2 of f.tar.zst"
  plan
  run awss3 s3api head-object --bucket "$S3_BUCKET" --key inflight-fail/f.tar.zst
  [ "$RC" -ne 0 ] || fail "an object appeared after a failed part"
  assert_eq "$(uploads inflight-fail/)" "" "unfinished uploads"
}

# Other 4xx answers are the request's fault: not retried, said in one sentence.
test_fault_400_is_not_retried() {
  s3env fault-400 "$PROXY"
  plan "status PUT partNumber=1 400:InvalidArgument x*"
  run "$ST" put "$T_FILE_DIR/big" f.tar.zst
  assert_rc 1
  assert_err_contains "400 InvalidArgument"
  assert_eq "$(proxied 'partNumber=1&')" 1 "requests for part 1"
  plan
  assert_eq "$(uploads fault-400/)" "" "unfinished uploads"
}

test_fault_single_put_and_list_retried() {
  s3env fault-small "$PROXY"
  plan "status PUT f.tar.zst 503 x2" "dropresp GET list-type 100"
  run "$ST" put "$T_FILE_DIR/small" f.tar.zst 150000
  assert_ok
  assert_eq "$(proxied 'PUT .*f.tar.zst')" 3 "PUT requests"
  run "$ST" ls
  assert_ok
  assert_out_contains "f.tar.zst"
}

test_fault_download_resumes_after_dropped_connections() {
  s3env fault-get
  run "$ST" put "$T_FILE_DIR/big" d.tar.zst
  assert_ok
  s3env fault-get "$PROXY"
  plan "dropresp GET d.tar.zst 3000000" "dropresp GET d.tar.zst 9000000"
  run "$ST" get d.tar.zst "$T/out"
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/out" || fail "resumed download differs"
  assert_eq "$(proxied 'GET .*d.tar.zst')" 3 "GET requests"
}

test_fault_slow_server_times_out_and_retries() {
  s3env fault-slow "$PROXY"
  plan "delay PUT partNumber=2 4" "delay GET s.tar.zst 4"
  STORE_S3_TIMEOUT_S=1 run "$ST" put "$T_FILE_DIR/big" s.tar.zst
  assert_ok
  assert_eq "$(proxied 'partNumber=2&')" 2 "requests for part 2"
  STORE_S3_TIMEOUT_S=1 run "$ST" get s.tar.zst "$T/out"
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/out" || fail "object differs"
}

test_fault_persistent_503_leaves_nothing_and_says_why() {
  s3env fault-give-up "$PROXY"
  plan "status PUT partNumber=2 503 x*"
  REGVAULT_S3_MAX_ATTEMPTS=3 run "$ST" put "$T_FILE_DIR/big" g.tar.zst
  assert_rc 1
  assert_err_contains "kept answering 503 SlowDown uploading part 2 of g.tar.zst (3 attempts)"
  assert_eq "$(proxied 'DELETE .*uploadId=')" 1 "abort requests"
  plan
  s3env fault-give-up
  run "$ST" ls
  assert_ok
  assert_eq "$OUT" "" "objects"
  assert_eq "$(uploads fault-give-up/)" "" "unfinished uploads"
}

test_fault_slow_server_gives_up_with_reason() {
  s3env fault-stall "$PROXY"
  plan "delay * * 5 x*"
  STORE_S3_TIMEOUT_S=1 REGVAULT_S3_MAX_ATTEMPTS=2 run "$ST" put "$T_FILE_DIR/big" h.tar.zst
  assert_rc 1
  assert_err_contains "stopped answering"
  plan
  sleep 5 # let the delayed requests the proxy still holds reach RGW
  s3env fault-stall
  run "$ST" ls
  assert_eq "$OUT" "" "objects"
  REGVAULT_S3_CLEANUP_AGE_S=0 run "$ST" cleanup
  assert_ok
  assert_eq "$(uploads fault-stall/)" "" "unfinished uploads"
}

test_abort_leaves_no_object_and_no_upload() {
  s3env abort
  run "$ST" put-abort "$T_FILE_DIR/big" a.tar.zst
  assert_ok
  run "$ST" ls
  assert_eq "$OUT" "" "objects"
  assert_eq "$(uploads abort/)" "" "unfinished uploads"
}

test_cleanup_removes_only_old_unfinished_uploads() {
  s3env killed
  run "$ST" put-exit "$T_FILE_DIR/big" k.tar.zst
  assert_ok
  assert_eq "$(uploads killed/)" "killed/k.tar.zst" "unfinished uploads after a killed writer"
  run "$ST" ls
  assert_eq "$OUT" "" "objects"
  # a fresh upload may be a save still running: kept
  run "$ST" cleanup
  assert_ok
  assert_eq "$(uploads killed/)" "killed/k.tar.zst" "unfinished uploads after cleanup"
  REGVAULT_S3_CLEANUP_AGE_S=0 run "$ST" cleanup
  assert_ok
  assert_eq "$(uploads killed/)" "" "unfinished uploads after cleanup of old ones"
}

# valgrind stays clean on the S3 store (the normal flags, with the test hooks for the
# retries given up and the cleanup; threads, curl, retries, an abort).
test_store_is_valgrind_clean() {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  make -s -C "$RV_ROOT" HOOKS=1 build/hooks/store-tool >/dev/null || fail "cannot build build/hooks/store-tool"
  local vg=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --suppressions="$RV_ROOT/tests/valgrind.supp" "$RV_ROOT/build/hooks/store-tool")
  s3env vg "$PROXY"
  # two parts (8 MiB and the rest) are enough here: valgrind is slow on every byte
  head -c 10000000 "$T_FILE_DIR/big" >"$T/mid"
  plan "status PUT partNumber=1 503" "dropresp GET v.tar.zst 3000000"
  run "${vg[@]}" put "$T/mid" v.tar.zst
  assert_ok
  run "${vg[@]}" get v.tar.zst "$T/out"
  assert_ok
  cmp "$T/mid" "$T/out" || fail "object differs"
  run "${vg[@]}" getchunks v.tar.zst "$T/out2" 1048576 65536
  assert_ok
  cmp "$T/mid" "$T/out2" || fail "chunked read under valgrind differs"
  run "${vg[@]}" getchunks v.tar.zst "$T/out2" 4194304 65536 # fetched ahead, 2 threads
  assert_ok
  run "${vg[@]}" ls
  assert_ok
  plan "status PUT partNumber=2 503 x*"
  REGVAULT_S3_MAX_ATTEMPTS=2 run "${vg[@]}" put "$T/mid" w.tar.zst
  assert_rc 1
  plan
  run "${vg[@]}" rm v.tar.zst
  assert_ok
  REGVAULT_S3_CLEANUP_AGE_S=0 run "${vg[@]}" cleanup
  assert_ok
}

# HTTPS: verified against store.s3.ca_file; an unknown CA is a TLS failure, not retried.
# The threads of the S3 store (parts and ranges in flight) under ThreadSanitizer:
# no data race in uploads, in reads fetched ahead, or when a part fails while
# others are in flight.
test_store_threads_are_threadsanitizer_clean() {
  make -s -C "$RV_ROOT" TSAN=1 build/tsan/store-tool >/dev/null 2>&1 || skip "no ThreadSanitizer build here"
  local tst=$RV_ROOT/build/tsan/store-tool
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_thread_leaks=0 suppressions=$RV_ROOT/tests/tsan.supp"
  s3env tsan "$PROXY"
  plan "delay PUT partNumber= 0.2 x*"
  STORE_S3_PARTS_IN_FLIGHT=3 run "$tst" put "$T_FILE_DIR/big" t.tar.zst
  assert_ok
  plan "delay GET t.tar.zst 0.2 x*"
  STORE_S3_PARTS_IN_FLIGHT=3 run "$tst" getchunks t.tar.zst "$T/out" 4194304 65536
  assert_ok
  cmp "$T_FILE_DIR/big" "$T/out" || fail "read under ThreadSanitizer differs"
  plan "delay PUT partNumber=1 0.3 x*" "status PUT partNumber=2 500 x*"
  STORE_S3_PARTS_IN_FLIGHT=3 REGVAULT_S3_MAX_ATTEMPTS=2 run "$tst" put "$T_FILE_DIR/big" f.tar.zst
  assert_rc 1
  assert_err_contains "uploading part 2 of f.tar.zst"
  plan
}

test_tls_endpoint_verified_with_ca_file() {
  local d=$T/tls port
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a certificate"
  FAULTPROXY_TLS_CERT=$d/cert.pem FAULTPROXY_TLS_KEY=$d/key.pem \
    python3 "$RV_ROOT/tests/tools/faultproxy.py" "$d/port" "${S3_ENDPOINT##*:}" "$d/plan" "$d/log" >"$d/out" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null" EXIT # the test runs in a subshell: stop the proxy however it ends
  for _ in $(seq 1 50); do [ -s "$d/port" ] && break; sleep 0.1; done
  port=$(cat "$d/port")
  s3env tls "https://127.0.0.1:$port"
  STORE_S3_CA_FILE=$d/cert.pem run "$ST" put "$T_FILE_DIR/small" t.tar.zst
  assert_ok
  STORE_S3_CA_FILE=$d/cert.pem run "$ST" get t.tar.zst "$T/out"
  assert_ok
  cmp "$T_FILE_DIR/small" "$T/out" || fail "object differs over TLS"
  run "$ST" ls
  assert_rc 1
  assert_err_contains "the TLS connection to S3 endpoint https://127.0.0.1:$port failed"
  assert_err_contains "store.s3.ca_file"
  assert_eq "$(grep -c list-type "$d/log")" 0 "listings that got through without a trusted certificate"
}
