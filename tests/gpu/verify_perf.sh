#!/usr/bin/env bash
# verify_perf.sh - on the GPU machine, one call, in priority order, each part skipped when less
# than its time is left of LIMIT seconds (default 570): build (frspec and the GPU tests below),
# test_cuda_batch and test_cuda_fp8 (the batched verify and decode, their padded graphs, the FP8
# GEMVs and GEMMs against the CPU), `frspec bench throughput` on the 8B shape at batch 1..128 with
# the defaults and with the decode steps on the CUDA-core paged attention (FRS_BATCH_ATT_MMA=1), the 8B
# FP8 bench (bf16 vs FP8), the default pair's 512-prompt job at --batch 64 under off / fixed / auto
# (per-step traces) and off with FRS_BATCH_ATT_MMA=1, the PyTorch batched graph loop of the 8B shape,
# the job at --batch 1 off, the 70B FP8 bench, the FP8 GEMV at 8 loads in flight, test_cuda_spec,
# jobs at --batch 8 and 32, and Nsight Compute on the batch-64 decode step and the FP8 GEMV. Logs
# under $OUT.
# usage (repo root, carry .deps): [LIMIT=400] bash tests/gpu/verify_perf.sh
set -o pipefail
START=$(date +%s)
left() { echo $(( ${LIMIT:-570} - ($(date +%s) - START) )); }
need() { [ "$(left)" -gt "$1" ] || { echo "skipped ($(left) s left): $2"; return 1; }; }
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_fp8 test_cuda_spec || exit 1
echo "built ($(left) s left)"
frs_test test_cuda_batch
frs_test test_cuda_fp8
need 80 "throughput" && timeout 100 $B/frspec bench throughput --preset llama3-8b --batches 1,4,8,16,32,64,128 --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
need 60 "throughput att 1" && FRS_BATCH_ATT_MMA=1 timeout 80 $B/frspec bench throughput --preset llama3-8b \
    --batches 1,8,32,64,128 --steps 10 --no-spec --json "$OUT/throughput_att1.json" 2>&1 | grep -v allocating |
    tee "$OUT/throughput_att1.log" | sed "s/^/[FRS_BATCH_ATT_MMA=1] /"
if need 50 "8B FP8 bench"; then
    timeout 60 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
        --json "$OUT/bench_8b.json" 2>&1 | grep -v allocating > "$OUT/bench_8b.log"
    grep -E "^==|^1024 |FR 32k  " "$OUT/bench_8b.log"
fi
if need 60 "job b64"; then
    for pol in off fixed auto; do frs_job 64 $pol 50 | sed "s/^/[b64 $pol] /"; done
    JOB_TAG=_att1 FRS_BATCH_ATT_MMA=1 frs_job 64 off 50 | sed "s/^/[b64 off FRS_BATCH_ATT_MMA=1] /"
fi
need 70 "torch" && PYTHONUNBUFFERED=1 timeout 90 python3 tests/bench/torch_baseline.py --preset llama3-8b --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
need 60 "job b1" && frs_job 1 off 90 | sed "s/^/[b1 off] /"
if need 60 "70B FP8 bench"; then
    timeout 70 $B/frspec bench --preset llama3-70b-fp8 --quick --short --iters 4 --steps 10 \
        --json "$OUT/bench_70b_fp8.json" 2>&1 | grep -v allocating > "$OUT/bench_70b_fp8.log"
    grep -E "^==|^1024 |FR 32k  " "$OUT/bench_70b_fp8.log"
fi
need 35 "FP8 GEMV U8" && FRS_FP8_GEMV=8 timeout 40 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 6 \
    --steps 20 2>&1 | grep -E "^==|^1024 |^FR 32k  " | sed "s/^/[FRS_FP8_GEMV=8] /"
need 40 "test_cuda_spec" && frs_test test_cuda_spec 90
if need 50 "job 8 32"; then
    for b in 8 32; do for pol in off auto; do frs_job $b $pol 40 | sed "s/^/[b$b $pol] /"; done; done
fi
# kernel times and DRAM bytes of the batch-64 decode step (ncu, base units): the paged attention of
# steps ~10-11 and ~130 GEMM launches well inside the 33 autoregressive steps (3 warm + 30 timed)
if need 60 "ncu" && command -v ncu > /dev/null; then
    NCU="ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv --print-units base"
    timeout $(( $(left) / 3 )) $NCU -k regex:'paged_attention|attn_mma' --launch-skip 300 --launch-count 64 \
        $B/frspec bench throughput --preset llama3-8b --batches 64 --steps 30 --no-spec > "$OUT/ncu_att_b64.csv" 2> "$OUT/ncu_att_b64.err"
    echo "ncu attention exit $?: $(wc -l < "$OUT/ncu_att_b64.csv") lines ($(left) s left)"
    timeout $(( $(left) / 2 )) $NCU -k regex:'nvjet|gemm|gemv|Kernel|cutlass|sm90' --launch-skip 1500 --launch-count 130 \
        $B/frspec bench throughput --preset llama3-8b --batches 64 --steps 30 --no-spec > "$OUT/ncu_gemm_b64.csv" 2> "$OUT/ncu_gemm_b64.err"
    echo "ncu gemm exit $?: $(wc -l < "$OUT/ncu_gemm_b64.csv") lines ($(left) s left)"
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
