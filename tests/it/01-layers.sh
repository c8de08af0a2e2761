# The module rules from the developers' guide, checked on the sources:
# each module is used only through its one public header, and only by layers above it.

# level of a module; modules of one level do not use each other
level() {
  case $1 in
    common) echo 0 ;; etcd) echo 1 ;; registry) echo 2 ;; snapshot|maint) echo 3 ;;
    restore) echo 4 ;; scheduler) echo 5 ;; cli) echo 6 ;; *) echo 99 ;;
  esac
}

test_modules_use_only_lower_layers_through_public_headers() {
  local bad="" f mod inc dep
  cd "$RV_ROOT"
  for f in common/*.[ch] etcd/*.[ch] registry/*.[ch] snapshot/*.[ch] maint/*.[ch] restore/*.[ch] scheduler/*.[ch] cli/*.[ch]; do
    [ -e "$f" ] || continue
    mod=${f%%/*}
    while read -r inc; do
      dep=${inc%%/*}
      [ "$dep" = "$mod" ] && continue
      [ "$(level "$dep")" = 99 ] && continue
      if [ "$(level "$dep")" -ge "$(level "$mod")" ]; then
        bad+="$f includes $inc (layer $dep is not below $mod); "
      elif [ "$inc" != "$dep/$dep.h" ] && [ "$inc" != "common/common.h" ]; then
        bad+="$f includes $inc (not the public header of $dep); "
      fi
    done < <(sed -n 's/^#include "\([a-z]*\/[a-z_]*\.h\)".*/\1/p' "$f")
  done
  [ -z "$bad" ] || fail "$bad"
}

# The modules' sentences say what failed and what to do, never which flag to pass or
# which regvault command to run: that wording is the edge's (cli/advice.c for the
# command line), added through an advice id (rv_fail_advice, enum rv_advice).
test_module_messages_name_no_flag_and_no_regvault_command() {
  local hits
  cd "$RV_ROOT"
  hits=$(grep -nE "\"[^\"]*((pass|add|with|run|use|give|see) '?--[a-z]|\(--[a-z]|('|\(|run )regvault [a-z])" \
           etcd/*.c registry/*.c snapshot/*.c maint/*.c restore/*.c scheduler/*.c |
         grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
  [ -z "$hits" ] || fail "module messages that name a flag or a regvault command (record an advice id instead): $hits"
}

# Modules report progress through a callback (rv_progress_fn); only the edge draws
# it, so a daemon's job never writes a progress line into its log.
test_modules_never_draw_progress() {
  local hits
  cd "$RV_ROOT"
  hits=$(grep -nE 'rv_progress_(start|update|end)|rv_progress_disabled|isatty' \
           etcd/*.c registry/*.c snapshot/*.c maint/*.c restore/*.c scheduler/*.c || true)
  [ -z "$hits" ] || fail "module code that draws progress or looks at the terminal (report through a callback): $hits"
}
