# The module rules from the developers' guide, checked on the sources:
# each module is used only through its one public header, and only by layers above it.

# level of a module; modules of one level do not use each other
level() {
  case $1 in
    common) echo 0 ;; registry) echo 1 ;; snapshot|maint) echo 2 ;;
    restore) echo 3 ;; scheduler) echo 4 ;; cli) echo 5 ;; *) echo 99 ;;
  esac
}

test_modules_use_only_lower_layers_through_public_headers() {
  local bad="" f mod inc dep
  cd "$RV_ROOT"
  for f in common/*.[ch] registry/*.[ch] snapshot/*.[ch] maint/*.[ch] restore/*.[ch] scheduler/*.[ch] cli/*.[ch]; do
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
