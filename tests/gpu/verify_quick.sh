#!/usr/bin/env bash
# verify_quick.sh - the short form of verify_perf.sh for a small device budget: build, test_cuda_batch,
# test_cuda_fp8, test_cuda_spec, the 8B throughput bench at batch 1 / 8 / 32 with the A/B of the
# tensor-core paged attention (FRS_BATCH_ATT_MMA=1) and of the FP8 split-K GEMM (FRS_FP8_MMA=2), the 8B FP8 bench, the default pair's job at --batch 64 off / auto. Logs under $OUT.
set -o pipefail
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_fp8 test_cuda_spec || exit 1
for t in test_cuda_batch test_cuda_fp8 test_cuda_spec; do
    timeout 90 $B/tests/$t > "$OUT/$t.log" 2>&1
    echo "$t exit $?: $(grep -E 'checks' "$OUT/$t.log" | tail -1)"
    grep -E "FAIL|paged attention \(" "$OUT/$t.log" | head -6
done
timeout 60 $B/frspec bench throughput --preset llama3-8b --batches 1,8,32 --steps 8 2>&1 | grep -v allocating |
    tee "$OUT/throughput.log" | grep -vE "^\s*$"
FRS_BATCH_ATT_MMA=1 timeout 40 $B/frspec bench throughput --preset llama3-8b --batches 1,8 --steps 8 2>&1 |
    grep -E "^FR 32k" | sed 's/^/[FRS_BATCH_ATT_MMA=1] /'
FRS_FP8_MMA=2 timeout 40 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 4 --steps 10 2>&1 |
    grep -E "^==|^1024 |^FR 32k  " | sed 's/^/[FRS_FP8_MMA=2] /'
timeout 40 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 4 --steps 10 2>&1 |
    grep -v allocating > "$OUT/bench_8b.log"; grep -E "^==|^1024 |^FR 32k  " "$OUT/bench_8b.log"
DEF=configs/default
for pol in off auto; do
    timeout 40 $B/frspec generate --device cuda --model $DEF/target --draft $DEF/draft --fr-vocab $DEF/fr/freq_8192.txt \
        --prompts tests/bench/prompts/job512.jsonl --batch 64 --spec-policy $pol --max-new-tokens 32 --ignore-eos \
        --out "$OUT/job_$pol.jsonl" > /dev/null 2> "$OUT/job_$pol.log"
    echo "rc $?: $(grep -h 'frspec: batch' "$OUT/job_$pol.log" | tail -1)"
done
