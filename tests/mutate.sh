#!/usr/bin/env bash
# Mutation checks, run by hand (not in CI): applies the mutants of tests/mutants.txt one at a time
# to a scratch copy of this tree, rebuilds it and runs the tests each names. "caught" when at
# least one of them fails, "MISSED" when all pass. Ends with a table (docs/testing.md, "Mutation
# checks").
#
# The working tree is never touched: its files (tracked and untracked, not ignored, with
# uncommitted edits) are copied to <scratch>/src, only those that changed since the last run, and
# built in <scratch>/build, so a rebuild after a mutant recompiles one file and relinks.
# Integration tests need root, like `meson test --suite integration`.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: tests/mutate.sh [options] [ID...]
  Runs every mutant of tests/mutants.txt, or the IDs given.
  -l, --list         list the mutants and exit
  -s, --scratch DIR  scratch directory (default: $IPOP_MUTATE_DIR or /tmp/ipop-mutate-<tree>)
  -f, --file FILE    mutant list (default: tests/mutants.txt)
  --no-baseline      skip running the tests once unmutated first (they must pass there)
  --check            only check that every mutant applies to the current tree
  -h, --help         this text
Exit status: 0 every mutant caught, 1 one or more MISSED, 2 an error (a mutant that does not
apply or build, a test that does not exist or fails unmutated).
EOF
}

root=$(cd "$(dirname "$0")/.." && pwd)
list_file=$root/tests/mutants.txt
scratch=${IPOP_MUTATE_DIR:-/tmp/ipop-mutate-$(printf '%s' "$root" | md5sum | cut -c1-8)}
baseline=1
only_check=0
list_only=0
wanted=()
while (($#)); do
  case $1 in
    -l | --list) list_only=1 ;;
    -s | --scratch) scratch=$2; shift ;;
    -f | --file) list_file=$2; shift ;;
    --no-baseline) baseline=0 ;;
    --check) only_check=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) wanted+=("$1") ;;
  esac
  shift
done

die() {
  echo "mutate.sh: $*" >&2
  exit 2
}

# ---- the mutant list ----
# Parallel arrays by mutant; edits are flat arrays with the owning mutant's index.
ids=() properties=() mutations=() tests_of=()
edit_owner=() edit_file=() edit_from=() edit_to=()
parse_list() {
  local line key value n=-1 file="" pending_from="" have_from=0 lineno=0
  [[ -f $list_file ]] || die "no mutant list at $list_file"
  while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line =~ ^([a-z]+):[[:space:]]?(.*)$ ]] || die "$list_file:$lineno: not 'key: value'"
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    value=${value#"${value%%[![:space:]]*}"}  # leading blanks
    value=${value//\\n/$'\n'}
    if [[ $key == id ]]; then
      ((have_from == 0)) || die "$list_file:$lineno: 'from' without 'to' before it"
      n=$((n + 1))
      ids[n]=$value properties[n]="" mutations[n]="" tests_of[n]="" file=""
      continue
    fi
    ((n >= 0)) || die "$list_file:$lineno: '$key' before the first 'id'"
    case $key in
      property) properties[n]=$value ;;
      mutation) mutations[n]=$value ;;
      tests) tests_of[n]=$value ;;
      file) file=$value ;;
      from)
        [[ -n $file ]] || die "$list_file:$lineno: 'from' before 'file' in ${ids[n]}"
        [[ -n $value ]] || die "$list_file:$lineno: empty 'from' in ${ids[n]}"
        ((have_from == 0)) || die "$list_file:$lineno: two 'from' in a row in ${ids[n]}"
        pending_from=$value have_from=1 ;;
      to)
        ((have_from == 1)) || die "$list_file:$lineno: 'to' without 'from' in ${ids[n]}"
        edit_owner+=("$n") edit_file+=("$file") edit_from+=("$pending_from") edit_to+=("$value")
        have_from=0 ;;
      *) die "$list_file:$lineno: unknown key '$key'" ;;
    esac
  done <"$list_file"
  ((have_from == 0)) || die "$list_file: 'from' without 'to' at the end"
  local i
  for i in "${!ids[@]}"; do
    [[ -n ${tests_of[i]} && -n ${properties[i]} && -n ${mutations[i]} ]] ||
      die "mutant ${ids[i]}: needs property, mutation and tests"
    [[ " ${edit_owner[*]} " == *" $i "* ]] || die "mutant ${ids[i]}: no edits"
  done
}

# Replaces the one occurrence of $2 in file $1 by $3; fails (2) if it occurs zero or several times.
apply_edit() {
  local path=$1 from=$2 to=$3 text rest
  [[ -f $path ]] || { echo "no such file: $path" >&2; return 2; }
  text=$(cat "$path"; printf x)
  text=${text%x}
  rest=${text#*"$from"}
  if [[ $rest == "$text" ]]; then
    echo "text not found in ${path#"$src"/}: $from" >&2
    return 2
  fi
  if [[ $rest == *"$from"* ]]; then
    echo "text found more than once in ${path#"$src"/}: $from" >&2
    return 2
  fi
  printf '%s' "${text%%"$from"*}$to$rest" >"$path"
}

# Applies mutant $1's edits to the scratch tree.
apply_mutant() {
  local m=$1 e
  for e in "${!edit_owner[@]}"; do
    [[ ${edit_owner[e]} == "$m" ]] || continue
    printf '%s\n' "${edit_file[e]}" >>"$scratch/dirty"
    apply_edit "$src/${edit_file[e]}" "${edit_from[e]}" "${edit_to[e]}" || return 2
  done
}

# Puts the files mutant $1 touched back as they are in the working tree (with a new mtime, so
# ninja rebuilds them).
restore_mutant() {
  local m=$1 e
  for e in "${!edit_owner[@]}"; do
    [[ ${edit_owner[e]} == "$m" ]] || continue
    cp "$root/${edit_file[e]}" "$src/${edit_file[e]}"
  done
  rm -f "$scratch/dirty"
}

parse_list
if ((list_only)); then
  for i in "${!ids[@]}"; do
    printf '%-30s %s\n%-30s   tests: %s\n' "${ids[i]}" "${mutations[i]}" "" "${tests_of[i]}"
  done
  exit 0
fi

selected=()
if ((${#wanted[@]})); then
  for w in "${wanted[@]}"; do
    found=-1
    for i in "${!ids[@]}"; do [[ ${ids[i]} == "$w" ]] && found=$i; done
    ((found >= 0)) || die "no mutant '$w' in $list_file"
    selected+=("$found")
  done
else
  selected=("${!ids[@]}")
fi

# ---- the scratch copy ----
scratch=$(realpath -m "$scratch")
[[ $scratch != "$root" && $scratch != "$root"/* && $root != "$scratch"/* ]] ||
  die "the scratch directory $scratch overlaps the working tree"
src=$scratch/src
build=$scratch/build
logs=$scratch/logs
rm -rf "$logs"
mkdir -p "$src" "$logs"

# Copies what changed in the working tree since the last run (by mtime and size; then by content,
# so an unchanged file keeps its old mtime and ninja does not rebuild it).
sync_tree() {
  local stamps=$scratch/stamps new=$scratch/stamps.new f
  touch "$stamps"
  (cd "$root" && git ls-files -z --cached --others --exclude-standard |
    { xargs -0 -r stat --format '%Y %s %n' 2>/dev/null || true; }) | sort >"$new"
  comm -13 "$stamps" "$new" | while IFS=' ' read -r _ _ f; do
    [[ -f $root/$f && ! -L $root/$f ]] || continue
    if ! cmp -s "$root/$f" "$src/$f"; then
      mkdir -p "$(dirname "$src/$f")"
      cp --preserve=mode "$root/$f" "$src/$f"
    fi
  done
  # Files gone from the working tree go from the copy too.
  comm -23 <(cut -d' ' -f3- "$stamps" | sort) <(cut -d' ' -f3- "$new" | sort) |
    while IFS= read -r f; do rm -f "$src/$f"; done
  mv "$new" "$stamps"
}

# A run killed while a mutant was applied left it in the copy: put those files back first.
if [[ -f $scratch/dirty ]]; then
  while IFS= read -r f; do cp "$root/$f" "$src/$f" 2>/dev/null || rm -f "$src/$f"; done \
    <"$scratch/dirty"
  rm -f "$scratch/dirty"
fi

echo "mutate.sh: copying $root to $src"
sync_tree

# Every mutant must apply to the current tree before anything is built: a stale entry is an
# error, never a silent skip.
check_all() {
  local m bad=0 tmp
  tmp=$scratch/check
  for m in "${selected[@]}"; do
    rm -rf "$tmp"
    mkdir -p "$tmp"
    local e
    for e in "${!edit_owner[@]}"; do
      [[ ${edit_owner[e]} == "$m" ]] || continue
      local f=${edit_file[e]}
      if [[ ! -f $tmp/$f ]]; then
        mkdir -p "$(dirname "$tmp/$f")"
        cp "$src/$f" "$tmp/$f" 2>/dev/null || { echo "${ids[m]}: no file $f" >&2; bad=1; continue 2; }
      fi
      if ! src=$tmp apply_edit "$tmp/$f" "${edit_from[e]}" "${edit_to[e]}" 2>"$tmp/err"; then
        echo "${ids[m]}: $(cat "$tmp/err")" >&2
        bad=1
        continue 2
      fi
    done
  done
  rm -rf "$tmp"
  ((bad == 0)) || die "mutants above do not apply to this tree: update $list_file"
}
check_all
if ((only_check)); then
  echo "mutate.sh: all ${#selected[@]} mutants apply"
  exit 0
fi

if [[ ! -f $build/build.ninja ]]; then
  echo "mutate.sh: configuring $build"
  meson setup "$build" "$src" --buildtype=release >"$logs/setup.log" 2>&1 ||
    die "meson setup failed: $logs/setup.log"
fi

# Builds everything (no argument) or the targets the tests of mutant $2 need; log in $1.
build_tree() {
  local log=$1 targets=() t
  if (($# > 1)); then
    for t in ${tests_of[$2]}; do
      if [[ ${target_of[$t]} == ALL ]]; then
        targets=()
        break
      fi
      targets+=("${target_of[$t]}")
    done
  fi
  ninja -C "$build" "${targets[@]}" >"$log" 2>&1
}

echo "mutate.sh: building the unmutated copy"
build_tree "$logs/build-base.log" || die "the unmutated tree does not build: $logs/build-base.log"

# suite:name -> the executable it runs (relative to the build), or ALL when it needs the whole
# build (integration scripts run the installed binaries).
meson introspect --tests "$build" >"$logs/tests.json" || die "meson introspect --tests failed"
declare -A target_of=()
while IFS=$'\t' read -r t target; do
  target_of[$t]=$target
done < <(python3 - "$build" "$logs/tests.json" <<'PY'
import json, os, sys
build = os.path.realpath(sys.argv[1])
for t in json.load(open(sys.argv[2])):
    exe = os.path.realpath(t["cmd"][0])
    inside = exe.startswith(build + os.sep)
    target = os.path.relpath(exe, build) if inside else "ALL"
    for suite in t["suite"]:
        print(f"{suite.split(':')[-1]}:{t['name']}\t{target}")
PY
)
declare -A all_tests=()
for m in "${selected[@]}"; do
  for t in ${tests_of[m]}; do
    [[ $t == *:* ]] || die "mutant ${ids[m]}: test '$t' is not suite:name"
    [[ -n ${target_of[$t]:-} ]] ||
      die "mutant ${ids[m]}: no test '${t#*:}' in suite '${t%%:*}' (see $logs/tests.json)"
    all_tests[$t]=1
  done
done

# Runs test $1 (suite:name), log in $2. Prints pass, fail or skip.
run_test() {
  local t=$1 log=$2 summary
  meson test -C "$build" --no-rebuild --print-errorlogs --suite "${t%%:*}" "${t#*:}" \
    >"$log" 2>&1 || true
  summary=$(grep -E '^(Ok|Fail|Timeout|Skipped|Unexpected Pass|Expected Fail):' "$log" |
    tr -s ' ' | tr '\n' ' ')
  if [[ $summary =~ (Fail|Timeout|Unexpected\ Pass):\ [1-9] ]]; then
    echo fail
  elif [[ $summary =~ Ok:\ [1-9] ]]; then
    echo pass
  elif [[ $summary =~ Skipped:\ [1-9] ]]; then
    echo skip
  else
    echo fail  # meson itself failed: treat as failure, the log says why
  fi
}

if ((baseline)); then
  echo "mutate.sh: running the named tests unmutated"
  for t in "${!all_tests[@]}"; do
    r=$(run_test "$t" "$logs/base-${t/:/-}.log")
    [[ $r == pass ]] || die "$t does not pass unmutated ($r): $logs/base-${t/:/-}.log"
  done
fi

current=-1
# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  if ((current >= 0)); then restore_mutant "$current"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

results=() caught_by=()
status=0
for m in "${selected[@]}"; do
  id=${ids[m]}
  current=$m
  apply_mutant "$m" || die "$id: does not apply"
  echo "mutate.sh: $id: building"
  if ! build_tree "$logs/build-$id.log" "$m"; then
    restore_mutant "$m"
    current=-1
    results[m]="BUILD FAILED"
    caught_by[m]="-"
    status=2
    echo "mutate.sh: $id: BUILD FAILED ($logs/build-$id.log)"
    continue
  fi
  failed=() skipped=() cases=()
  for t in ${tests_of[m]}; do
    log=$logs/$id-${t/:/-}.log
    r=$(run_test "$t" "$log")
    case $r in
      fail)
        failed+=("${t#*:}")
        # The GoogleTest cases that failed, for the progress line.
        mapfile -t -O "${#cases[@]}" cases < <(grep -oE '^\[  FAILED  \] [[:alnum:]_/]+\.[[:alnum:]_/]+' \
          "$log" | sed 's/^\[  FAILED  \] //' | sort -u)
        ;;
      skip) skipped+=("${t#*:}") ;;
    esac
  done
  restore_mutant "$m"
  current=-1
  if ((${#failed[@]})); then
    results[m]=caught
    caught_by[m]=${failed[*]}
  else
    results[m]=MISSED
    caught_by[m]="-"
    ((status == 2)) || status=1
  fi
  ((${#skipped[@]} == 0)) || caught_by[m]+=" (skipped: ${skipped[*]})"
  echo "mutate.sh: $id: ${results[m]} ${caught_by[m]}${cases[*]:+ [${cases[*]}]}"
done
# Leave the build matching the unmutated tree for the next run.
build_tree "$logs/build-base.log" || true

echo
printf '| %s | %s | %s | %s | %s |\n' mutant property "tests run" "mutation tried" caught
printf '| --- | --- | --- | --- | --- |\n'
for m in "${selected[@]}"; do
  r=${results[m]}
  [[ $r == caught ]] && r="yes (${caught_by[m]})"
  [[ $r == MISSED ]] && r="**MISSED**"
  printf '| %s | %s | %s | %s | %s |\n' "${ids[m]}" "${properties[m]}" "${tests_of[m]}" \
    "${mutations[m]}" "$r"
done
echo
echo "logs: $logs"
exit "$status"
