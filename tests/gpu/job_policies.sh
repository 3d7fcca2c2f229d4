#!/usr/bin/env bash
# job_policies.sh - on the GPU machine: the embedded default pair's 512-prompt job
# (tests/bench/prompts/job512.jsonl, 32 new tokens each, --ignore-eos) at --batch 1, 8 and 64 with
# --spec-policy off, fixed and auto in one call: tokens/s, drafted steps and their mean tokens, and
# how many results equal --batch 1 off's (issue 14: auto never below the better of off and fixed);
# the engine's per-step traces (FRS_BATCH_TRACE) in $OUT/trace_b*_*.txt.
# usage (repo root, carry .deps): bash tests/gpu/job_policies.sh
set -o pipefail
source tests/gpu/build_lib.sh
frs_build frspec || exit 1
for bs in ${BATCHES:-1 8 64}; do
    for pol in off fixed auto; do
        frs_job $bs $pol
    done
done
python3 tests/bench/job_identical.py "$OUT"
