#!/usr/bin/env bash
# The integration stage: the tests on the session's scratch stack (marker `scratch`, tests/integration/conftest.py) run
# in a second pytest beside the lab's, so that the scratch stack comes up and is used while the lab tests run; the two
# stacks share no container, port or directory. The lab run prints as it goes; the scratch run's output (kept in
# .build/integration-scratch.log) follows it. Exit status: 0 when both runs passed.
#   usage: mk/integration.sh PYTEST [ARGS...]
set -uo pipefail

pytest=$1
shift
log=.build/integration-scratch.log
mkdir -p .build

MEM0OPS_STAGES_RUN=" (scratch)" "$pytest" -m "integration and scratch" tests/integration "$@" > "$log" 2>&1 &
scratch=$!
trap 'kill "$scratch" 2>/dev/null' EXIT

MEM0OPS_STAGES_RUN=" (lab)" "$pytest" -m "integration and not scratch" tests/integration "$@"
lab_rc=$?
wait "$scratch"
scratch_rc=$?
trap - EXIT

echo "=== the tests on the scratch stack (run beside the lab's; exit $scratch_rc)"
cat "$log"
echo "=== integration: lab run exit $lab_rc, scratch run exit $scratch_rc"
(( lab_rc == 0 && scratch_rc == 0 ))
