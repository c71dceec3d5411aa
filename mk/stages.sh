#!/usr/bin/env bash
# make test's runner: each stage is a make target, run in order and timed; at the end one table of every stage's
# seconds (and, from the integration stage, every test file's), whatever failed. A stage that the later ones need
# (toolchain, lab) stops the run when it fails; a failing check does not stop the others, so one CI log shows them all.
#   usage: mk/stages.sh NAME=TARGET[!|&] ...
#   a trailing ! marks a stage the later ones need;
#   a trailing & marks a stage that runs in the background, beside the next stage without it (the checks that need no
#   lab run while the lab is built): such stages run one after the other, their output is kept in .build/stage-NAME.log
#   and printed, with their results, once that next stage has ended.
# Writes .build/stages.tsv (name, seconds, result); pytest's conftest appends its per-file rows there
# (MEM0OPS_STAGES). Exit status: 0 when every stage passed.
set -uo pipefail

table=.build/stages.tsv
mkdir -p .build
: > "$table"
export MEM0OPS_STAGES="$PWD/$table"
faults=.build/faults.tsv   # the fault suite's rows (tests/integration/labkit.py record_fault)
: > "$faults"
export MEM0OPS_FAULTS="$PWD/$faults"

passed=0
failed=0
began=$(date +%s)

# run_stage NAME TARGET: run one stage, time it, add its row to the table; returns the target's exit status
run_stage() {
    local name=$1 target=$2 start rc seconds result
    echo "=== stage $name (make $target) at $(date -u +%H:%M:%S)"
    start=$(date +%s)
    make --no-print-directory "$target"
    rc=$?
    seconds=$(( $(date +%s) - start ))
    if (( rc == 0 )); then result=passed; else result="FAILED (exit $rc)"; fi
    printf '%s\t%s\t%s\n' "$name" "$seconds" "$result" >> "$table"
    echo "=== stage $name: $result after ${seconds} s"
    return $rc
}

background=()   # NAME=TARGET of the & stages not started yet
pending=()      # names of the & stages running now (in one background job, one after the other)
job=
count() { if (( $1 == 0 )); then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }

for spec in "$@"; do
    name=${spec%%=*}
    target=${spec#*=}
    if [[ $target == *'&' ]]; then
        background+=("$name=${target%&}")
        continue
    fi
    needed=0
    if [[ $target == *! ]]; then
        needed=1
        target=${target%!}
    fi
    if (( ${#background[@]} )); then
        pending=()
        for bg in "${background[@]}"; do pending+=("${bg%%=*}"); done
        echo "=== in the background, beside stage $name: ${pending[*]} (output at the end of $name)"
        (
            for bg in "${background[@]}"; do
                run_stage "${bg%%=*}" "${bg#*=}" > ".build/stage-${bg%%=*}.log" 2>&1
                echo $? > ".build/stage-${bg%%=*}.rc"
            done
        ) &
        job=$!
        background=()
    fi
    run_stage "$name" "$target"
    rc=$?
    count $rc
    if [[ -n $job ]]; then
        wait "$job"
        job=
        for bg in "${pending[@]}"; do
            cat ".build/stage-$bg.log"
            count "$(cat ".build/stage-$bg.rc")"
        done
    fi
    if (( rc != 0 && needed )); then
        echo "=== the later stages need $name: stopping here"
        break
    fi
done
for bg in "${background[@]}"; do   # & stages with no later stage to run beside: now
    run_stage "${bg%%=*}" "${bg#*=}"
    count $?
done
total=$(( $(date +%s) - began ))

echo
echo "make test: seconds per stage (budget: 2400 s on a fresh clone, nothing built)"
printf '%-58s %8s  %s\n' stage seconds result
while IFS=$'\t' read -r name seconds result; do
    printf '%-58s %8s  %s\n' "$name" "$seconds" "$result"
done < "$table"
printf '%-58s %8s\n' total "$total"
if [[ -s $faults ]]; then
    echo
    echo "fault suite: each fault injected on the lab or a scratch stack, memories counted by a direct query before and after"
    printf '%-58s %7s %7s %5s  %s\n' fault before after lost "what the tool did"
    lost_total=0
    while IFS=$'\t' read -r case before after lost outcome; do
        printf '%-58s %7s %7s %5s  %s\n' "$case" "$before" "$after" "$lost" "$outcome"
        lost_total=$((lost_total + lost))
    done < "$faults"
    echo "fault suite: $(wc -l < "$faults") faults, $lost_total memories lost"
fi
echo "stages: $passed passed, $failed failed"
(( failed == 0 ))
