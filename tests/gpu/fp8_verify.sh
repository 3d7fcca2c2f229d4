#!/usr/bin/env bash
# fp8_verify.sh - the FP8 verify GEMM (2..64 rows, cuda_fp8_gemm_small*) within LIMIT seconds (default
# 300): build; test_cuda_fp8 (kernels against the CPU, speculative == autoregressive) and test_cuda_model
# on the FP8 fixtures; `frspec bench --preset llama3-8b,llama3-8b-fp8` (decode, verify 60, FR 32k
# iteration) under each value of MMA (default "2": FRS_FP8_MMA, alternating RUNS times, default 1);
# the 70B FP8 preset on one GPU; an ncu of the FP8 verify kernels (kernel name regex NCU_K, default
# fp8_(mma|pipe)_kernel|fp8_splitk: the first NCU_C, default 16, of the verify's GEMM and split-reduce
# launches, L2 not flushed between them) under NCU_MMA (default the first MMA value); the 70B preset
# under each value of B70_MMA (default MMA). Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=300] [MMA="2 4"] [RUNS=1] [B70=1] [MODEL=1] bash tests/gpu/fp8_verify.sh
# (MODEL=0 skips test_cuda_model, B70=0 the 70B preset, NCU=0 the ncu)
set -o pipefail
LIMIT=${LIMIT:-300}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_fp8 test_cuda_model || exit 1
echo "built ($(left) s left)"
need 60 "test_cuda_fp8" && frs_test test_cuda_fp8 120
if [ "${MODEL:-1}" = 1 ] && need 60 "test_cuda_model fp8"; then
    ( cd "$B/tests" && timeout 40 ./test_cuda_model models/fp8-ct-channel models/fp8-ct-static models/fp8-fbgemm ) \
        > "$OUT/test_cuda_model_fp8.log" 2>&1
    echo "test_cuda_model fp8 exit $?: $(grep -E 'checks' "$OUT/test_cuda_model_fp8.log" | tail -1)"
fi
for r in $(seq 1 ${RUNS:-1}); do
    for m in ${MMA:-2}; do
        need 45 "bench 8b mma $m r$r" || break
        FRS_FP8_MMA=$m timeout 60 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
            --json "$OUT/bench_8b_m${m}_r$r.json" > "$OUT/bench_8b_m${m}_r$r.log" 2>&1
        echo "[8b mma $m r$r] rc $?"; grep -E "^== |^1024|FR 32k" "$OUT/bench_8b_m${m}_r$r.log" | sed "s/^/[8b mma $m r$r] /"
    done
done
if [ "${B70:-1}" = 1 ]; then
    for m in ${B70_MMA:-${MMA:-2}}; do
        need 80 "bench 70b fp8 mma $m" || break
        FRS_FP8_MMA=$m timeout 75 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 \
            --json "$OUT/bench_70b_m$m.json" > "$OUT/bench_70b_m$m.log" 2>&1
        echo "[70b mma $m] rc $?"; grep -E "^== |^4096|^1024|FR 32k" "$OUT/bench_70b_m$m.log" | sed "s/^/[70b mma $m] /"
    done
fi
if [ "${NCU:-1}" = 1 ] && need 60 "ncu fp8 verify"; then
    m=${NCU_MMA:-$(echo ${MMA:-2} | awk '{print $1}')}
    FRS_FP8_MMA=$m timeout 55 ncu -k "regex:${NCU_K:-fp8_(mma|pipe)_kernel|fp8_splitk}" -c ${NCU_C:-16} --cache-control none \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section WarpStateStats \
        --section Occupancy --section LaunchStats $B/frspec bench --preset llama3-8b-fp8 --quick \
        --short --iters 2 --steps 2 > "$OUT/ncu_fp8_verify.txt" 2>&1
    echo "ncu rc $?"
    grep -E "fp8_|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Warp Cycles Per Issued|Grid Size|Issue Slots Busy|Executed Ipc A|Pipe" \
        "$OUT/ncu_fp8_verify.txt" | head -120
fi
echo "end ($(left) s left)"
