# regvault registry validate and registry sync (the GitOps sync) on a real
# three-member cluster, with etcdctl as the independent reader of what was written.
# Each test has its own cluster name (so its own inventory) and its own prefix.

setup_file() {
  start_cluster "$T_FILE_DIR/c" || return 1
  export_env CFG ENDPOINTS
}

# use_registry NAME [YAML lines for registry.sync]: $T/caps and a configuration
# naming cluster NAME with registry.prefix /t/NAME; sets CFG, CAPS, PREFIX, STATE.
use_registry() {
  local name=$1; shift
  CAPS=$T/caps PREFIX=/t/$name STATE=/regvault/$name/registry
  mkdir -p "$CAPS"
  sed "s/^  name: registry\$/  name: $name/" "$CFG" >"$T/regvault.yaml"
  {
    echo "registry:"
    echo "  manifests_dir: $CAPS"
    echo "  prefix: $PREFIX"
    echo "  sync:"
    echo "    interval: 60s"
    local l
    for l in "$@"; do echo "    $l"; done
  } >>"$T/regvault.yaml"
  CFG=$T/regvault.yaml
}

# manifest NS VERSION [service]: a manifest $CAPS/NS.yaml
manifest() {
  {
    echo "version: $2"
    echo "metadata:"
    echo "  title: The $1 capability"
    echo "  creator: tests"
    echo "dependencies:"
    echo "  - chora.base.core >=2.0.0 <3.0.0"
    [ "${3:-}" == service ] && printf 'chora_service:\n  health_check:\n    http: http://127.0.0.1:1/health\n'
  } >"$CAPS/$1.yaml"
}

get() { ectl get --print-value-only "$1"; }
count_keys() { ectl get --prefix --keys-only "$1" | grep -c . || true; }
revision() { ectl endpoint status -w json | jq -r '[.[].Status.header.revision] | max'; }
action_of() { jq -r --arg ns "$1" '.capabilities[] | select(.namespace == $ns) | .action' <<<"$OUT"; }

test_validate_dir_without_config_file() {
  mkdir -p "$T/good" "$T/bad"
  printf 'version: 1.0.0\nchora_service: {}\n' >"$T/good/chora.devex.registry.yaml"
  printf 'version: 2.0.0\n' >"$T/good/chora.base.core.yml"
  run "$RV_BIN" --no-progress registry validate "$T/good"
  assert_ok
  assert_out_contains "2 manifests in $T/good are valid"

  cp "$T/good/"* "$T/bad/"
  printf 'version: 1.0.0\nmetadata:\n  title: x\ndependencies:\n  - chora.base.core >=two\n' >"$T/bad/a.yaml"
  printf 'version: 1.0\n' >"$T/bad/b.yaml"
  printf 'version: [\n' >"$T/bad/c.yaml"
  run "$RV_BIN" --no-progress registry validate "$T/bad"
  assert_rc 2
  assert_out_contains "$T/bad/a.yaml:5: dependency chora.base.core: range '>=two'"
  assert_out_contains "$T/bad/b.yaml:1: version: '1.0' is not a version"
  assert_out_contains "$T/bad/c.yaml:2: YAML syntax error"
  assert_out_contains "3 of 5 manifests in $T/bad are invalid"

  run "$RV_BIN" --no-progress -o json registry validate "$T/bad"
  assert_rc 2
  assert_eq "$(json_get '.ok')" false
  assert_eq "$(json_get '.valid')" 2
  assert_eq "$(json_get '[.problems[].line] | join(",")')" "5,1,2"
  assert_eq "$(json_get '.problems[0].namespace')" a

  run "$RV_BIN" --no-progress registry validate "$T/none"
  assert_rc 2
  assert_err_contains "cannot read the manifests directory $T/none"
}

test_validate_defaults_to_manifests_dir() {
  use_registry val
  manifest chora.devex.registry 1.0.0 service
  rv registry validate
  assert_ok
  assert_out_contains "1 manifests in $CAPS are valid"
  rv registry sync --bogus
  assert_rc 2
  # a configuration without a registry: section
  sed -n '/^registry:/q;p' "$CFG" >"$T/plain.yaml"
  run "$RV_BIN" --config "$T/plain.yaml" registry validate
  assert_rc 2
  assert_err_contains "has no registry: section"
  run "$RV_BIN" --config "$T/plain.yaml" registry sync
  assert_rc 2
  assert_err_contains "has no registry: section"
}

test_sync_writes_the_keys_etcdctl_reads() {
  use_registry write
  manifest chora.devex.registry 2.1.0 service
  manifest chora.base.patterns 1.0.0
  rv registry sync
  assert_ok
  assert_out_contains "chora.base.patterns"
  assert_out_contains "2 created"
  assert_eq "$(get $PREFIX/chora.devex.registry/type)" service
  assert_eq "$(get $PREFIX/chora.base.patterns/type)" pattern
  assert_eq "$(get $PREFIX/chora.devex.registry/version)" 2.1.0
  assert_eq "$(get $PREFIX/chora.devex.registry/metadata)" \
    '{"title":"The chora.devex.registry capability","creator":"tests"}'
  assert_eq "$(get $PREFIX/chora.devex.registry/dependencies)" \
    '[{"namespace":"chora.base.core","range":">=2.0.0 <3.0.0"}]'
  assert_eq "$(get $PREFIX/chora.devex.registry/metadata | jq -r .title)" "The chora.devex.registry capability"
  assert_eq "$(count_keys $PREFIX/)" 8
  assert_eq "$(get $STATE/inventory/chora.devex.registry | jq -r '.file + " " + .version')" \
    "chora.devex.registry.yaml 2.1.0"
  # the four keys and the inventory key of one capability are of one revision: one Txn
  assert_eq "$(ectl get --prefix $PREFIX/chora.devex.registry/ -w json | jq '[.kvs[].mod_revision] | unique | length')" 1
  assert_eq "$(ectl get $PREFIX/chora.devex.registry/type -w json | jq '.kvs[0].mod_revision')" \
    "$(ectl get $STATE/inventory/chora.devex.registry -w json | jq '.kvs[0].mod_revision')"

  rv -o json registry sync
  assert_ok
  assert_eq "$(json_get '.counts.unchanged')" 2
  assert_eq "$(json_get '"\(.types.service) \(.types.pattern)"')" "1 1"
  assert_eq "$(json_get '.txns')" 0
  assert_eq "$(json_get '.dry_run')" false
}

test_unchanged_pass_writes_no_revision() {
  use_registry quiet
  manifest a.one 1.0.0 service
  manifest a.two 1.0.0
  rv registry sync
  assert_ok
  local before after
  before=$(revision)
  rv registry sync
  assert_ok
  rv -o json registry sync
  assert_ok
  after=$(revision)
  assert_eq "$after" "$before" "the cluster's revision after two unchanged passes"
  assert_eq "$(json_get '.revision')" "$before"
}

test_dry_run_changes_nothing() {
  use_registry dry
  manifest d.one 1.0.0
  local before
  before=$(revision)
  rv -o json registry sync --dry-run
  assert_ok
  assert_eq "$(json_get '.dry_run')" true
  assert_eq "$(action_of d.one)" create
  assert_eq "$(revision)" "$before"
  assert_eq "$(count_keys $PREFIX/)" 0
  rv registry sync --dry-run
  assert_out_contains "dry run, nothing written"
}

test_edited_removed_broken_fixed() {
  use_registry life
  manifest l.edit 1.0.0
  manifest l.gone 1.0.0
  manifest l.break 1.0.0 service
  rv registry sync
  assert_ok

  # edited: only the key that changed is written
  manifest l.edit 1.1.0
  local meta_rev
  meta_rev=$(ectl get $PREFIX/l.edit/metadata -w json | jq '.kvs[0].mod_revision')
  rv -o json registry sync
  assert_ok
  assert_eq "$(action_of l.edit)" update
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "l.edit") | .keys | join(",")')" version
  assert_eq "$(get $PREFIX/l.edit/version)" 1.1.0
  assert_eq "$(ectl get $PREFIX/l.edit/metadata -w json | jq '.kvs[0].mod_revision')" "$meta_rev"

  # removed: its keys and its inventory key go
  rm "$CAPS/l.gone.yaml"
  rv registry sync
  assert_ok
  assert_out_contains "l.gone"
  assert_eq "$(count_keys $PREFIX/l.gone/)" 0
  assert_eq "$(count_keys $STATE/inventory/l.gone)" 0

  # broken: reported with file and line, exit 1, its keys kept as they were
  printf 'version: 2.0.0\nchora_service:\n  health_check:\n    http: nope\n' >"$CAPS/l.break.yaml"
  manifest l.edit 1.2.0
  rv registry sync
  assert_rc 1
  assert_out_contains "$CAPS/l.break.yaml:4: health_check.http must be an http:// or https:// URL"
  assert_eq "$(get $PREFIX/l.break/version)" 1.0.0
  assert_eq "$(get $PREFIX/l.break/type)" service
  assert_eq "$(get $PREFIX/l.edit/version)" 1.2.0 "the valid manifest beside the broken one"
  # a manifest that cannot even be read as YAML is kept too (namespace from its file name)
  printf 'version: [\n' >"$CAPS/l.break.yaml"
  rv -o json registry sync
  assert_rc 1
  assert_eq "$(action_of l.break)" invalid
  assert_eq "$(json_get '.capabilities[] | select(.namespace == "l.break") | .line')" 2
  assert_eq "$(get $PREFIX/l.break/version)" 1.0.0

  # fixed
  manifest l.break 2.0.0 service
  rv registry sync
  assert_ok
  assert_eq "$(get $PREFIX/l.break/version)" 2.0.0
}

test_empty_or_missing_dir_prunes_nothing() {
  use_registry empty
  manifest e.one 1.0.0
  manifest e.two 1.0.0
  rv registry sync
  assert_ok
  rm "$CAPS"/*.yaml
  rv registry sync
  assert_ok
  assert_err_contains "warning: the manifests directory holds no manifest"
  assert_eq "$(count_keys $PREFIX/)" 8
  mv "$CAPS" "$T/moved"
  rv -o json registry sync
  assert_ok
  assert_eq "$(count_keys $PREFIX/)" 8
  assert_eq "$(json_get '.warnings[0]')" "cannot read the manifests directory $CAPS: No such file or directory"
  mkdir "$CAPS"
  echo "    allow_empty: true" >>"$CFG"
  rv registry sync
  assert_ok
  assert_eq "$(count_keys $PREFIX/)" 0
  assert_eq "$(count_keys $STATE/inventory/)" 0
}

test_deletes_capped_per_pass() {
  use_registry cap "max_deletes: 2"
  local i
  for i in 1 2 3 4 5; do manifest c.n$i 1.0.0; done
  rv registry sync
  assert_ok
  rm "$CAPS"/c.n[1234].yaml
  rv -o json registry sync
  assert_ok
  assert_eq "$(json_get '.counts.delete')" 2
  assert_eq "$(json_get '.counts.deferred')" 2
  assert_eq "$(json_get '.warnings | join(" ")' | grep -c 'wait for a later pass')" 1
  assert_eq "$(ectl get --prefix --keys-only $PREFIX/ | grep -c '/type$')" 3
  rv registry sync
  assert_ok
  assert_eq "$(ectl get --prefix --keys-only $PREFIX/ | grep -c '/type$')" 1
  assert_eq "$(get $PREFIX/c.n5/version)" 1.0.0
}

test_hand_edit_is_put_back_and_health_left_alone() {
  use_registry drift
  manifest h.svc 1.0.0 service
  rv registry sync
  assert_ok
  # the heartbeat's key, under a lease: never compared, rewritten or counted
  local lease
  lease=$(ectl lease grant 60 | awk '{print $2}')
  ectl put --lease="$lease" $PREFIX/h.svc/health '{"status":"healthy"}' >/dev/null
  rv -o json registry sync
  assert_ok
  assert_eq "$(action_of h.svc)" unchanged
  assert_eq "$(json_get '.txns')" 0

  ectl put $PREFIX/h.svc/version 9.9.9 >/dev/null
  ectl del $PREFIX/h.svc/metadata >/dev/null
  rv -o json registry sync
  assert_ok
  assert_eq "$(action_of h.svc)" drift
  assert_eq "$(json_get '.capabilities[0].keys | join(",")')" metadata,version
  assert_eq "$(json_get '.capabilities[0].reason')" "metadata deleted by hand, version changed by hand"
  assert_eq "$(get $PREFIX/h.svc/version)" 1.0.0
  assert_eq "$(get $PREFIX/h.svc/metadata | jq -r .creator)" tests
  assert_eq "$(get $PREFIX/h.svc/health)" '{"status":"healthy"}'
  [[ $(ectl lease timetolive "$lease" --keys) == *"attached keys([$PREFIX/h.svc/health])"* ]] ||
    fail "the health key is no longer under its lease: $(ectl lease timetolive "$lease" --keys)"
  rv registry sync
  assert_out_contains "1 unchanged"
}

test_keys_of_others_are_never_touched() {
  use_registry others
  manifest foo 1.0.0
  manifest foobar 1.0.0
  manifest foo.bar 1.0.0
  rv registry sync
  assert_ok
  ectl put $PREFIX/foo "not a capability" >/dev/null
  ectl put $PREFIX/someone.else/type service >/dev/null
  ectl put $PREFIX/foo/extra "written by hand" >/dev/null
  rm "$CAPS/foo.yaml"
  rv -o json registry sync
  assert_ok
  assert_eq "$(action_of foo)" delete
  assert_eq "$(count_keys $PREFIX/foo/)" 0
  assert_eq "$(get $PREFIX/foobar/version)" 1.0.0
  assert_eq "$(get $PREFIX/foo.bar/version)" 1.0.0
  assert_eq "$(get $PREFIX/foo)" "not a capability"
  assert_eq "$(get $PREFIX/someone.else/type)" service
  assert_eq "$(json_get '[.capabilities[].namespace] | join(",")')" "foo,foo.bar,foobar"
}

test_git_commit_recorded_and_fast_forward() {
  command -v git >/dev/null || skip "no git"
  export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
  git init -q --bare -b main "$T/origin.git"
  git clone -q "$T/origin.git" "$T/upstream" 2>/dev/null
  CAPS=$T/upstream manifest g.one 1.0.0
  git -C "$T/upstream" add -A && git -C "$T/upstream" commit -qm one && git -C "$T/upstream" push -q origin main
  git clone -q "$T/origin.git" "$T/caps"
  use_registry git "git:" "  remote: origin" "  branch: main"
  rv -o json registry sync
  assert_ok
  assert_eq "$(json_get '.git_commit')" "$(git -C "$CAPS" rev-parse HEAD)"
  assert_eq "$(get $STATE/inventory/g.one | jq -r .git_commit)" "$(git -C "$CAPS" rev-parse HEAD)"

  # a new manifest pushed upstream is fetched and fast-forwarded before the pass
  CAPS=$T/upstream manifest g.two 1.0.0
  git -C "$T/upstream" add -A && git -C "$T/upstream" commit -qm two && git -C "$T/upstream" push -q origin main
  rv -o json registry sync
  assert_ok
  assert_eq "$(action_of g.two)" create
  assert_eq "$(json_get '.git_commit')" "$(git -C "$T/upstream" rev-parse HEAD)"
  assert_eq "$(git -C "$CAPS" log --oneline | wc -l)" 2

  # a fetch that fails: reported, the last checkout is synced
  git -C "$CAPS" remote set-url origin "$T/nowhere.git"
  manifest g.three 1.0.0
  rv -o json registry sync
  assert_ok
  assert_eq "$(action_of g.three)" create
  [[ $(json_get '.warnings[0]') == "fetch failed, the last checkout is synced: cannot fetch branch main of origin"* ]] ||
    fail "warning: $(json_get '.warnings[0]')"
}

test_thousand_manifests_in_one_pass() {
  use_registry big
  local i
  for i in $(seq 1 1000); do
    printf 'version: 1.0.%d\nmetadata:\n  title: capability %d\nchora_service: {}\n' "$i" "$i" >"$CAPS/big.n$i.yaml"
  done
  local start=$SECONDS
  rv -o json registry sync
  assert_ok
  echo "first pass: $((SECONDS - start)) s"
  assert_eq "$(json_get '.counts.create')" 1000
  assert_eq "$(json_get '.txns')" 1000
  assert_eq "$(count_keys $PREFIX/)" 4000
  assert_eq "$(count_keys $STATE/inventory/)" 1000
  assert_eq "$(get $PREFIX/big.n777/version)" 1.0.777
  local before
  before=$(revision)
  start=$SECONDS
  rv -o json registry sync
  assert_ok
  echo "unchanged pass: $((SECONDS - start)) s"
  assert_eq "$(json_get '.counts.unchanged')" 1000
  assert_eq "$(revision)" "$before"
}

# A key changed between the pass's read and its Txn: the compares on the
# mod_revisions read notice it, the capability is read again and written once more,
# so the hand edit made meanwhile (a deleted key the pass was not going to write)
# is put back in the same pass instead of being missed.
test_concurrent_change_is_read_again() {
  need_test_hooks
  use_registry race
  manifest r.one 1.0.0
  rv registry sync
  assert_ok
  manifest r.one 1.1.0
  RV_TEST_PAUSE_AT=registry-sync-txn:3000 rv_hooked -o json registry sync >/dev/null &
  local pid=$!
  sleep 1.5
  ectl del $PREFIX/r.one/metadata >/dev/null
  wait $pid
  rv_hooked -o json registry sync --dry-run # the first run's output is in $T/log
  grep -q "r.one changed while it was written; reading it again" "$T/log" ||
    fail "the pass did not notice the change between its read and its Txn"
  assert_eq "$(get $PREFIX/r.one/version)" 1.1.0
  assert_eq "$(get $PREFIX/r.one/metadata | jq -r .creator)" tests "metadata, put back in the same pass"
  assert_eq "$(json_get '.capabilities[0].action')" unchanged
}

test_changed_prefix_writes_anew_and_keeps_the_old_keys() {
  use_registry moved
  manifest m.one 1.0.0
  rv registry sync
  assert_ok
  sed -i "s|^  prefix: $PREFIX\$|  prefix: /t/moved-new|" "$CFG"
  rv -o json registry sync
  assert_ok
  assert_eq "$(action_of m.one)" drift
  assert_eq "$(get /t/moved-new/m.one/version)" 1.0.0
  assert_eq "$(get $PREFIX/m.one/version)" 1.0.0 "the key under the old prefix"
  rv -o json registry sync
  assert_eq "$(action_of m.one)" unchanged
}

test_cluster_that_does_not_answer_is_exit_1() {
  write_cluster_config "$T/down" # members on free ports, never started
  use_registry down
  manifest x.one 1.0.0
  rv registry sync
  assert_rc 1
  assert_err_contains "cannot read the capabilities under /t/down/"
}
