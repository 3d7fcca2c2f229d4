#!/usr/bin/env bash
# verify_min.sh - the smallest GPU check (about 2 minutes, for a nearly spent device budget):
# build frspec, test_cuda_batch and test_cuda_fp8 and run them (the padded batched verify, the FP8
# GEMV at 4 and 8 loads in flight against the CPU), the default pair's 512-prompt job at --batch 64
# off / auto (per-step traces) and --batch 1 off, then the 8B FP8 decode with FRS_FP8_GEMV=8 against
# the default. Logs under $OUT.
# usage (repo root, carry .deps): bash tests/gpu/verify_min.sh
set -o pipefail
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_fp8 || exit 1
for t in test_cuda_batch test_cuda_fp8; do
    timeout 60 $B/tests/$t > "$OUT/$t.log" 2>&1
    echo "$t exit $?: $(grep -E 'checks' "$OUT/$t.log" | tail -1)"
    grep -E "FAIL" "$OUT/$t.log" | head -5
done
DEF=configs/default
job() { # batch policy
    FRS_BATCH_TRACE="$OUT/trace_b$1_$2.txt" timeout 25 $B/frspec generate --device cuda --model $DEF/target \
        --draft $DEF/draft --fr-vocab $DEF/fr/freq_8192.txt --prompts tests/bench/prompts/job512.jsonl --batch $1 \
        --spec-policy $2 --max-new-tokens 32 --ignore-eos --out "$OUT/job_b$1_$2.jsonl" > /dev/null 2> "$OUT/job_b$1_$2.log"
    echo "rc $?: $(grep -h 'frspec: batch' "$OUT/job_b$1_$2.log" | tail -1)"
}
job 64 off
job 64 auto
job 1 off
for ab in FRS_FP8_GEMV=4 FRS_FP8_GEMV=8; do
    env $ab timeout 30 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 6 --steps 20 2>&1 |
        grep -E "^1024 " | sed "s/^/[$ab] /"
done
