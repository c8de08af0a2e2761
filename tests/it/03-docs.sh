# The README and the reference pages as a new user meets them: links that lead
# somewhere, one set of example ports, a README that is what its sources assemble,
# and a first session that runs when pasted.

# Every relative link [text](path) in the README and docs/ names a file that exists,
# relative to the page it is on (anchors and web links are not followed).
test_relative_links_resolve() {
  local page target dir bad=
  while IFS= read -r page; do
    dir=$(dirname "$page")
    # the README's head is assembled into the top-level README.md: its links start there
    [[ $page == */docs/readme-head.md ]] && dir=$RV_ROOT
    while IFS= read -r target; do
      target=${target%%#*}
      [ -z "$target" ] && continue
      [[ $target == *://* || $target == mailto:* ]] && continue
      [ -e "$dir/$target" ] || bad="$bad $page->$target"
    done < <(grep -o '\](\([^)]*\))' "$page" | sed 's/^](//; s/)$//')
  done < <(cd "$RV_ROOT" && { echo README.md; find docs -name '*.md'; } | sed "s|^|$RV_ROOT/|")
  [ -z "$bad" ] || fail "links that lead nowhere:$bad"
}

test_readme_is_assembled_from_its_sources() {
  cp -r "$RV_ROOT/docs" "$T/docs"
  cp "$RV_ROOT/README.md" "$T/README.md.committed"
  (cd "$T" && bash docs/make-readme.sh) || fail "make-readme.sh failed"
  diff -u "$T/README.md.committed" "$T/README.md" >"$T/diff" ||
    fail "README.md differs from what docs/make-readme.sh assembles (run it): $(head -c 300 "$T/diff")"
}

# The example configuration in the README, the packaged example and the status
# tables show the same three members on the same ports.
test_example_ports_agree() {
  local readme packaged tables u
  readme=$(sed -n '/^### A complete example/,/^```$/p' "$RV_ROOT/docs/reference/config.md" |
    grep -o 'http://127.0.0.1:[0-9]*' | sort -u | tr '\n' ' ')
  packaged=$(grep -o 'http://127.0.0.1:[0-9]*' "$RV_ROOT/packaging/regvault.yaml.example" | sort -u | tr '\n' ' ')
  [ -n "$readme" ] || fail "no member URLs found in the README's example"
  assert_eq "$readme" "$packaged" "the README example's URLs against the packaged example's"
  tables=$(grep -ho 'http://127.0.0.1:[0-9]*' "$RV_ROOT/README.md" "$RV_ROOT"/docs/reference/*.md | sort -u)
  for u in $tables; do
    [[ " $packaged" == *" $u "* ]] || fail "$u appears in the docs but is no member of the example configuration"
  done
}

test_demo_installs_only_what_it_needs() {
  local demo p
  demo=$(bash "$RV_ROOT/packaging/deps.sh" --list demo)
  for p in radosgw ceph-osd valgrind awscli rpm fio; do
    grep -qx "$p" <<<"$demo" && fail "make demo would install $p, which only the tests need"
  done
  for p in etcd-server etcd-client libgrpc-dev; do
    grep -qx "$p" <<<"$demo" || fail "make demo would not install $p"
  done
  grep -q '^demo: deps-demo ' "$RV_ROOT/Makefile" || fail "make demo does not use deps-demo"
  grep -q '^check: deps$' "$RV_ROOT/Makefile" || fail "make check does not install every test dependency"
}

# The README's first session, pasted line by line into a shell in a checkout whose
# build/regvault is the binary under test and whose build/demo/regvault.yaml is
# a real cluster's configuration, exactly as `make demo` leaves them.
test_first_session_runs_when_pasted() {
  local top=$T/checkout
  mkdir -p "$top/build/demo"
  ln -s "$RV_BIN" "$top/build/regvault"
  start_cluster "$T/c" || fail "cluster did not start"
  cp "$CFG" "$top/build/demo/regvault.yaml"
  ectl put /registry/first-session yes >/dev/null
  sed -n '/^## A first session/,/^## /p' "$RV_ROOT/README.md" | sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' >"$T/session.sh"
  grep -q '^export ' "$T/session.sh" || fail "the first session does not say which configuration to use"
  [ "$(wc -l <"$T/session.sh")" -ge 8 ] || fail "the first session is shorter than expected: $(cat "$T/session.sh")"
  # one script: each line (its comment cut off) stops the session when it fails
  {
    echo "cd '$top'; unset REGVAULT_CONFIG"
    awk '{sub(/  +#.*$/, ""); printf "echo \"+ %s\"; %s || { echo \"FAILED line %d: %s\"; exit 1; }\n", $0, $0, NR, $0}' "$T/session.sh"
  } >"$T/run-session.sh"
  bash "$T/run-session.sh" >"$T/session.out" 2>&1 </dev/null ||
    fail "$(grep -m1 FAILED "$T/session.out"): $(tail -4 "$T/session.out" | tr '\n' ' ')"
  [ "$(ectl get /registry/first-session --print-value-only)" = yes ] || fail "the restored cluster lost the key"
  "$RV_BIN" --config "$CFG" cluster down >/dev/null 2>&1
}

# Nothing regvault prints carries escape sequences when its output is not a
# terminal (the tests' output is a pipe), with or without NO_COLOR.
test_no_escape_sequences_when_piped() {
  run "$RV_BIN" --help
  [[ $OUT != *$'\033'* ]] || fail "--help printed an escape sequence into a pipe"
  local demo_step
  demo_step=$(NO_COLOR=1 bash -c "source <(sed -n '/^if \\[ -t 1 \\]/,/^step()/p' '$RV_ROOT/tests/demo.sh'); step hello" | od -c)
  [[ $demo_step != *033* ]] || fail "the demo prints bold into a pipe"
}

# make install as the README documents it: PREFIX and DESTDIR.
test_make_install_honours_prefix_and_destdir() {
  # -o: install what is built, never rebuild it under the other tests
  run make -s -C "$RV_ROOT" -o build/regvault install DESTDIR="$T/stage" PREFIX=/opt/rv
  assert_ok
  [ -x "$T/stage/opt/rv/bin/regvault" ] || fail "make install put nothing at DESTDIR/PREFIX/bin/regvault: $(find "$T/stage" | head)"
  run "$T/stage/opt/rv/bin/regvault" --version
  assert_ok
  assert_out_contains "regvault "
}
