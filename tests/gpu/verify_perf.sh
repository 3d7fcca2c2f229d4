#!/usr/bin/env bash
# verify_perf.sh - on the GPU machine, one call (about 7 minutes): build everything (reusing
# suite_gpu.sh's build), the GPU tests that cover the batched verify and the FP8 GEMMs
# (test_cuda_batch, test_cuda_spec, test_cuda_fp8), `frspec bench throughput` on the 8B shape at
# batch 1..128 and the PyTorch batched graph loop of the same shape in the same call, the A/B of the
# CUDA-core paged attention (FRS_BATCH_ATT_MMA=0), of the unsplit FP8 kernel (FRS_FP8_MMA=1) and of the
# FP8 GEMV at 8 loads in flight (FRS_FP8_GEMV=8), the
# FP8 bench (8B bf16 vs FP8, 70B FP8), and the default pair's 512-prompt job under off / fixed / auto
# at --batch $BATCHES (default 1 8 32 64) with per-step traces; then, in the time left, Nsight Compute
# on the batch-64 autoregressive step (the paged attention and the GEMMs: time and DRAM bytes).
# Logs under $OUT.
# usage (repo root, carry .deps): [BATCHES="1 64"] bash tests/gpu/verify_perf.sh
set -o pipefail
START=$(date +%s)
left() { echo $(( ${LIMIT:-570} - ($(date +%s) - START) )); }
source tests/gpu/build_lib.sh
frs_build || exit 1
for t in test_cuda_batch test_cuda_spec test_cuda_fp8; do
    timeout 150 $B/tests/$t > "$OUT/$t.log" 2>&1
    echo "$t exit $?: $(grep -E 'checks' "$OUT/$t.log" | tail -1)"
    grep -E "FAIL" "$OUT/$t.log" | head -8
done
timeout 120 $B/frspec bench throughput --preset llama3-8b --batches 1,4,8,16,32,64,128 --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
PYTHONUNBUFFERED=1 timeout 100 python3 tests/bench/torch_baseline.py --preset llama3-8b --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
FRS_BATCH_ATT_MMA=0 timeout 60 $B/frspec bench throughput --preset llama3-8b --batches 1,8 --steps 10 2>&1 |
    grep -v allocating | sed 's/^/[FRS_BATCH_ATT_MMA=0] /' | tee "$OUT/throughput_ab.log" | grep -E "FR 32k|full"
BATCHES="${BATCHES:-1 8 32 64}" bash tests/gpu/job_policies.sh 2>&1 | grep -E "^rc|identical"
echo "($(left) s left)"
timeout 60 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
    --json "$OUT/bench_8b.json" 2>&1 | grep -v allocating > "$OUT/bench_8b.log"
grep -E "^==|^1024 |FR 32k  " "$OUT/bench_8b.log"
for ab in FRS_FP8_MMA=1 FRS_FP8_GEMV=8; do
    env $ab timeout 40 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 6 --steps 20 2>&1 |
        grep -E "^==|^1024 |^FR 32k  " | sed "s/^/[$ab] /"
done
timeout 60 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 \
    --json "$OUT/bench_70b_fp8.json" 2>&1 | grep -v allocating > "$OUT/bench_70b_fp8.log"
grep -E "^==|^1024 |FR 32k  " "$OUT/bench_70b_fp8.log"
FRS_FP8_GEMV=8 timeout 60 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 2>&1 |
    grep -E "^==|^1024 |^FR 32k  " | sed "s/^/[FRS_FP8_GEMV=8] /"
echo "($(left) s left)"
# kernel times and DRAM bytes of the batch-64 decode step (ncu, base units): the paged attention of
# steps ~10-11 and ~130 GEMM launches well inside the 33 autoregressive steps (3 warm + 30 timed)
if [ "$(left)" -gt 60 ] && command -v ncu > /dev/null; then
    NCU="ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv --print-units base"
    timeout $(( $(left) / 2 )) $NCU -k regex:paged_attention --launch-skip 300 --launch-count 64 \
        $B/frspec bench throughput --preset llama3-8b --batches 64 --steps 30 > "$OUT/ncu_att_b64.csv" 2> "$OUT/ncu_att_b64.err"
    echo "ncu attention exit $?: $(wc -l < "$OUT/ncu_att_b64.csv") lines ($(left) s left)"
    timeout $(( $(left) - 5 )) $NCU -k regex:'nvjet|gemm|gemv|Kernel|cutlass|sm90' --launch-skip 1500 --launch-count 130 \
        $B/frspec bench throughput --preset llama3-8b --batches 64 --steps 30 > "$OUT/ncu_gemm_b64.csv" 2> "$OUT/ncu_gemm_b64.err"
    echo "ncu gemm exit $?: $(wc -l < "$OUT/ncu_gemm_b64.csv") lines"
fi
echo "end ($(left) s left)"
