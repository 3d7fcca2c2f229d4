#!/usr/bin/env bash
# verify_perf.sh - on the GPU machine, one call, in priority order, each part skipped when less
# than its time is left of LIMIT seconds (default 570): build (frspec and the GPU tests below),
# test_cuda_batch and test_cuda_fp8 (the batched verify, its padded graphs, the FP8 GEMV and GEMMs
# against the CPU), the default pair's 512-prompt job under off / fixed / auto at --batch
# $BATCHES (default "1 64"; per-step traces), `frspec bench throughput` on the 8B shape at batch
# 1..128 and the PyTorch batched graph loop of the same shape, the 8B FP8 bench (bf16 vs FP8; A/B
# of the FP8 GEMV at 8 loads in flight, FRS_FP8_GEMV=8), the 70B FP8 bench, test_cuda_spec, more
# job batch sizes (8 32), and Nsight Compute on the batch-64 decode step. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=400] [BATCHES="1 64"] bash tests/gpu/verify_perf.sh
set -o pipefail
START=$(date +%s)
left() { echo $(( ${LIMIT:-570} - ($(date +%s) - START) )); }
need() { [ "$(left)" -gt "$1" ] || { echo "skipped ($(left) s left): $2"; return 1; }; }
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_fp8 test_cuda_spec || exit 1
echo "built ($(left) s left)"
frs_test test_cuda_batch
frs_test test_cuda_fp8
if need 60 "job"; then # --batch 64 under the three policies, --batch 1 off (the 15x target's reference)
    for pol in off fixed auto; do frs_job 64 $pol 60 | sed "s/^/[b64 $pol] /"; done
    JOB_TAG=_att2 FRS_BATCH_ATT_MMA=2 frs_job 64 off 60 | sed "s/^/[b64 off FRS_BATCH_ATT_MMA=2] /"
    frs_job 1 off 100 | sed "s/^/[b1 off] /"
fi
need 80 "throughput" && timeout 100 $B/frspec bench throughput --preset llama3-8b --batches 1,4,8,16,32,64,128 --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
need 90 "throughput att 2" && FRS_BATCH_ATT_MMA=2 timeout 100 $B/frspec bench throughput --preset llama3-8b \
    --batches 1,8,32,64,128 --steps 10 --no-spec --json "$OUT/throughput_att2.json" 2>&1 | grep -v allocating |
    tee "$OUT/throughput_att2.log" | sed "s/^/[FRS_BATCH_ATT_MMA=2] /"
need 70 "torch" && PYTHONUNBUFFERED=1 timeout 90 python3 tests/bench/torch_baseline.py --preset llama3-8b --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
if need 50 "8B FP8 bench"; then
    timeout 60 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
        --json "$OUT/bench_8b.json" 2>&1 | grep -v allocating > "$OUT/bench_8b.log"
    grep -E "^==|^1024 |FR 32k  " "$OUT/bench_8b.log"
fi
need 35 "FP8 GEMV A/B" && FRS_FP8_GEMV=8 timeout 40 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 6 --steps 20 2>&1 |
    grep -E "^==|^1024 |^FR 32k  " | sed "s/^/[FRS_FP8_GEMV=8] /"
if need 60 "70B FP8 bench"; then
    timeout 70 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 \
        --json "$OUT/bench_70b_fp8.json" 2>&1 | grep -v allocating > "$OUT/bench_70b_fp8.log"
    grep -E "^==|^1024 |FR 32k  " "$OUT/bench_70b_fp8.log"
fi
need 40 "test_cuda_spec" && frs_test test_cuda_spec 90
need 50 "job 8 32" && BATCHES="8 32" bash tests/gpu/job_policies.sh 2>&1 | grep -E "^rc|identical"
# kernel times and DRAM bytes of the batch-64 decode step (ncu, base units): the paged attention of
# steps ~10-11 and ~130 GEMM launches well inside the 33 autoregressive steps (3 warm + 30 timed)
if need 60 "ncu" && command -v ncu > /dev/null; then
    NCU="ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv --print-units base"
    timeout $(( $(left) / 2 )) $NCU -k regex:paged_attention --launch-skip 300 --launch-count 64 \
        $B/frspec bench throughput --preset llama3-8b --batches 64 --steps 30 > "$OUT/ncu_att_b64.csv" 2> "$OUT/ncu_att_b64.err"
    echo "ncu attention exit $?: $(wc -l < "$OUT/ncu_att_b64.csv") lines ($(left) s left)"
    timeout $(( $(left) - 5 )) $NCU -k regex:'nvjet|gemm|gemv|Kernel|cutlass|sm90' --launch-skip 1500 --launch-count 130 \
        $B/frspec bench throughput --preset llama3-8b --batches 64 --steps 30 > "$OUT/ncu_gemm_b64.csv" 2> "$OUT/ncu_gemm_b64.err"
    echo "ncu gemm exit $?: $(wc -l < "$OUT/ncu_gemm_b64.csv") lines"
fi
# the FP8 GEMV of the 8B decode: throughput, stall reasons, pipes (one launch of each shape)
if need 40 "ncu fp8 gemv" && command -v ncu > /dev/null; then
    timeout $(( $(left) - 5 )) ncu --clock-control none --section SpeedOfLight --section WarpStateStats \
        --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis -k regex:fp8_gemv --launch-skip 200 \
        --launch-count 4 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 2 --steps 4 \
        > "$OUT/ncu_fp8_gemv.txt" 2>&1
    echo "ncu fp8 gemv exit $?: $(wc -l < "$OUT/ncu_fp8_gemv.txt") lines"
fi
echo "end ($(left) s left)"
