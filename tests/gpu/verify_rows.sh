#!/usr/bin/env bash
# verify_rows.sh - the row kernels (cuda_elementwise.h: RMSNorm, SwiGLU, the paged RoPE write, the FP8
# decode's gate/up GEMV fused with SwiGLU) in one call within LIMIT seconds (default 540): build;
# test_cuda_ops, test_cuda_fp8 and test_cuda_batch; A/B of FRS_ROW_KERNELS=1 (the launch shapes before)
# and =2 (the default), twice each, alternating: `frspec bench throughput` (8B, decode only, batch 1 / 64
# / 128) and `frspec bench` of the 8B shape in bf16 and FP8 (single sequence: decode, verify 60, FR-Spec
# iteration); Nsight Compute of the FP8 decode's GEMVs (speed of light, memory, warp states, occupancy)
# into $OUT/ncu_fp8_gemv.txt. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=540] bash tests/gpu/verify_rows.sh
set -o pipefail
LIMIT=${LIMIT:-540}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_ops test_cuda_fp8 test_cuda_batch || exit 1
echo "built ($(left) s left)"
need 150 "test_cuda_ops" && frs_test test_cuda_ops 60
need 130 "test_cuda_fp8" && frs_test test_cuda_fp8 60
need 200 "test_cuda_batch" && frs_test test_cuda_batch 150
for ab in 1 2 1 2; do
    need 40 "throughput rows $ab" && FRS_ROW_KERNELS=$ab timeout 40 $B/frspec bench throughput --preset llama3-8b \
        --batches 1,64,128 --steps 20 --no-spec --json "$OUT/throughput_rows$ab.json" 2>&1 |
        grep -E "^ *[0-9]+ |copy bandwidth" | sed "s/^/[rows $ab] /" | tee -a "$OUT/throughput.log"
done
for ab in 1 2; do
    need 60 "bench rows $ab" && FRS_ROW_KERNELS=$ab timeout 60 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick \
        --short --iters 6 --steps 20 --json "$OUT/bench_rows$ab.json" 2>&1 | grep -E "^==|^1024 |^FR 32k  " |
        sed "s/^/[rows $ab] /" | tee -a "$OUT/bench.log"
done
if need 100 "ncu fp8 gemv"; then
    timeout 90 ncu --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy \
        --section LaunchStats -k regex:fp8_gemv --launch-skip 300 --launch-count 4 $B/frspec bench \
        --preset llama3-8b-fp8 --quick --short --iters 2 --steps 4 > "$OUT/ncu_fp8_gemv.txt" 2>&1
    echo "ncu rc $?"
    grep -E "fp8_gemv|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Theoretical Occ|Warp Cycles Per Issued|Issue Slots|Block Limit" "$OUT/ncu_fp8_gemv.txt" | head -60
fi
echo "end ($(left) s left)"
