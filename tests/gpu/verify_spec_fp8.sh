#!/usr/bin/env bash
# verify_spec_fp8.sh - one call for the changes not yet run on a GPU, within LIMIT seconds (default 450),
# in priority order: build; test_cuda_batch (the batched tree attention's grid, the device-built trees
# against the host-built ones), test_cuda_ops (the batched tree kernels against runtime/tree.c),
# test_cuda_fp8 (FP8 verify variants 5-7 bit-identical to the split-K kernel), test_cuda_model on the
# bf16 and one FP8 fixture (the decode's L2 prefetches bit-identical); `frspec bench
# throughput --preset llama3-8b --fr-only` at BATCHES (default 1,2,4,8,32) under each of AB (default:
# the defaults, FRS_BATCH_DRAFT=h); the 8B bf16 / FP8 bench under each
# FRS_FP8_MMA of MMA (default "4 7"); the 8B FP8 bench under each FRS_L2_PREFETCH of PF (default
# "1 7"; the MMA 4 run is its baseline; after the jobs); the default pair's 512-prompt job at --batch 64 and 1 (the
# 16 MiB GEMM-timing threshold: choose_ms in the traces' backend lines); the 70B FP8 preset under each
# of B70_MMA (default "7 4"). Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=450] bash tests/gpu/verify_spec_fp8.sh
set -o pipefail
LIMIT=${LIMIT:-450}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_ops test_cuda_fp8 test_cuda_model || exit 1
echo "built ($(left) s left)"
need 150 "test_cuda_batch" && frs_test test_cuda_batch 110
need 80 "test_cuda_ops" && frs_test test_cuda_ops 60
need 100 "test_cuda_fp8" && frs_test test_cuda_fp8 80
need 60 "test_cuda_model" && frs_test test_cuda_model 50
if need 40 "test_cuda_model fp8"; then
    timeout 30 $B/tests/test_cuda_model models/fp8-ct-channel > "$OUT/test_cuda_model_fp8.log" 2>&1
    echo "test_cuda_model fp8 exit $?: $(grep -E 'checks' "$OUT/test_cuda_model_fp8.log" | tail -1)"
    grep -E "FAIL|l2 prefetch" "$OUT/test_cuda_model.log" "$OUT/test_cuda_model_fp8.log" | head -8
fi
for ab in ${AB:-FRS_X=1 FRS_BATCH_DRAFT=h}; do
    need 50 "throughput fr-only $ab" || break
    env $ab timeout 50 $B/frspec bench throughput --preset llama3-8b --batches ${BATCHES:-1,2,4,8,32} --steps 8 \
        --fr-only --json "$OUT/throughput_fr_${ab#*=}.json" > "$OUT/throughput_fr_${ab#*=}.log" 2>&1
    echo "throughput $ab rc $?"
    grep -E "^ *[0-9]+ |^FR|copy bandwidth" "$OUT/throughput_fr_${ab#*=}.log" | sed "s/^/[$ab] /"
done
for m in ${MMA:-4 7}; do
    need 40 "bench 8b mma $m" || break
    FRS_FP8_MMA=$m timeout 45 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
        --json "$OUT/bench_8b_m$m.json" > "$OUT/bench_8b_m$m.log" 2>&1
    echo "[8b mma $m] rc $?"; grep -E "^== |^1024|FR 32k" "$OUT/bench_8b_m$m.log" | sed "s/^/[8b mma $m] /"
done
need 30 "job b64" && frs_job 64 off 25 | sed "s/^/[b64 off] /"
need 30 "job b1" && frs_job 1 off 30 | sed "s/^/[b1 off] /"
for t in "$OUT"/trace_*.txt; do [ -f "$t" ] && echo "$(basename $t): $(grep -h '^backend' $t)"; done
for pf in ${PF:-1 7}; do
    need 30 "bench 8b fp8 l2 prefetch $pf" || break
    FRS_L2_PREFETCH=$pf timeout 30 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
        --json "$OUT/bench_8b_pf$pf.json" > "$OUT/bench_8b_pf$pf.log" 2>&1
    echo "[8b pf $pf] rc $?"; grep -E "^== |^1024|FR 32k" "$OUT/bench_8b_pf$pf.log" | sed "s/^/[8b pf $pf] /"
done
for m in ${B70_MMA:-7 4}; do
    need 75 "bench 70b fp8 mma $m" || break
    FRS_FP8_MMA=$m timeout 70 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 \
        --json "$OUT/bench_70b_m$m.json" > "$OUT/bench_70b_m$m.log" 2>&1
    echo "[70b mma $m] rc $?"; grep -E "^== |^4096|^1024|FR 32k" "$OUT/bench_70b_m$m.log" | sed "s/^/[70b mma $m] /"
done
echo "end ($(left) s left)"
