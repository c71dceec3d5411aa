#!/usr/bin/env bash
# make test's runner: each stage is a make target, run in order and timed; at the end one table of every stage's
# seconds (and, from the integration stage, every test file's), whatever failed. A stage that the later ones need
# (toolchain, lab) stops the run when it fails; a failing check does not stop the others, so one CI log shows them all.
#   usage: mk/stages.sh NAME=TARGET[!] ...   (a trailing ! marks a stage the later ones need)
# Writes .build/stages.tsv (name, seconds, result); pytest's conftest appends its per-file rows there
# (MEM0OPS_STAGES). Exit status: 0 when every stage passed.
set -uo pipefail

table=.build/stages.tsv
mkdir -p .build
: > "$table"
export MEM0OPS_STAGES="$PWD/$table"

passed=0
failed=0
began=$(date +%s)
for spec in "$@"; do
    name=${spec%%=*}
    target=${spec#*=}
    needed=0
    if [[ $target == *! ]]; then
        needed=1
        target=${target%!}
    fi
    echo "=== stage $name (make $target) at $(date -u +%H:%M:%S)"
    start=$(date +%s)
    make --no-print-directory "$target"
    rc=$?
    seconds=$(( $(date +%s) - start ))
    if (( rc == 0 )); then
        result=passed
        passed=$((passed + 1))
    else
        result="FAILED (exit $rc)"
        failed=$((failed + 1))
    fi
    printf '%s\t%s\t%s\n' "$name" "$seconds" "$result" >> "$table"
    echo "=== stage $name: $result after ${seconds} s"
    if (( rc != 0 && needed )); then
        echo "=== the later stages need $name: stopping here"
        break
    fi
done
total=$(( $(date +%s) - began ))

echo
echo "make test: seconds per stage (budget: 2400 s on a fresh clone, nothing built)"
printf '%-58s %8s  %s\n' stage seconds result
while IFS=$'\t' read -r name seconds result; do
    printf '%-58s %8s  %s\n' "$name" "$seconds" "$result"
done < "$table"
printf '%-58s %8s\n' total "$total"
echo "stages: $passed passed, $failed failed"
(( failed == 0 ))
