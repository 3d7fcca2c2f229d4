#!/usr/bin/env bash
# verify_spec_fp8.sh - one call for the changes not yet run on a GPU, within LIMIT seconds (default 450),
# in priority order: build; test_cuda_batch (the batched tree attention's grid, the device-built trees
# against the host-built ones), test_cuda_ops (the batched tree kernels against runtime/tree.c),
# test_cuda_fp8 (FP8 verify variants 5-7 bit-identical to the split-K kernel); `frspec bench
# throughput --preset llama3-8b --fr-only` at BATCHES (default 1,2,4,8,32) under each of AB (default:
# FRS_BATCH_ATT_GRID=0, the default, FRS_BATCH_DRAFT=d); the 8B bf16 / FP8 bench under each
# FRS_FP8_MMA of MMA (default "7 5 4"); the default pair's 512-prompt job at --batch 64 and 1 (the
# 16 MiB GEMM-timing threshold: choose_ms in the traces' backend lines); the 70B FP8 preset under each
# of B70_MMA (default "7 4"). Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=450] bash tests/gpu/verify_spec_fp8.sh
set -o pipefail
LIMIT=${LIMIT:-450}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_ops test_cuda_fp8 || exit 1
echo "built ($(left) s left)"
need 150 "test_cuda_batch" && frs_test test_cuda_batch 110
need 80 "test_cuda_ops" && frs_test test_cuda_ops 60
need 100 "test_cuda_fp8" && frs_test test_cuda_fp8 80
for ab in ${AB:-FRS_BATCH_ATT_GRID=0 FRS_BATCH_ATT_GRID=1 FRS_BATCH_DRAFT=d}; do
    need 50 "throughput fr-only $ab" || break
    env $ab timeout 50 $B/frspec bench throughput --preset llama3-8b --batches ${BATCHES:-1,2,4,8,32} --steps 8 \
        --fr-only --json "$OUT/throughput_fr_${ab#*=}.json" > "$OUT/throughput_fr_${ab#*=}.log" 2>&1
    echo "throughput $ab rc $?"
    grep -E "^ *[0-9]+ |^FR|copy bandwidth" "$OUT/throughput_fr_${ab#*=}.log" | sed "s/^/[$ab] /"
done
for m in ${MMA:-7 5 4}; do
    need 40 "bench 8b mma $m" || break
    FRS_FP8_MMA=$m timeout 45 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
        --json "$OUT/bench_8b_m$m.json" > "$OUT/bench_8b_m$m.log" 2>&1
    echo "[8b mma $m] rc $?"; grep -E "^== |^1024|FR 32k" "$OUT/bench_8b_m$m.log" | sed "s/^/[8b mma $m] /"
done
need 30 "job b64" && frs_job 64 off 25 | sed "s/^/[b64 off] /"
need 30 "job b1" && frs_job 1 off 30 | sed "s/^/[b1 off] /"
for t in "$OUT"/trace_*.txt; do [ -f "$t" ] && echo "$(basename $t): $(grep -h '^backend' $t)"; done
for m in ${B70_MMA:-7 4}; do
    need 75 "bench 70b fp8 mma $m" || break
    FRS_FP8_MMA=$m timeout 70 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 \
        --json "$OUT/bench_70b_m$m.json" > "$OUT/bench_70b_m$m.log" 2>&1
    echo "[70b mma $m] rc $?"; grep -E "^== |^4096|^1024|FR 32k" "$OUT/bench_70b_m$m.log" | sed "s/^/[70b mma $m] /"
done
echo "end ($(left) s left)"
