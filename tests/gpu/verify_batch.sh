#!/usr/bin/env bash
# verify_batch.sh - on the GPU machine, one call, the batched engine's and the FP8 decode's figures in
# priority order (each part skipped when less than its time is left of LIMIT seconds, default 480):
# build; test_cuda_batch and test_cuda_fp8; the default pair's 512-prompt job
# (tests/bench/prompts/job512.jsonl, 32 new tokens, --ignore-eos) at --batch 64 under off and auto
# (twice each, alternating), under off with cuBLASLt's untimed choice (FRS_CUBLASLT=h), and at --batch
# 1 under off, with per-step traces; the 8B FP8 decode with each FP8 GEMV of FP8_AB (default "4 8":
# FRS_FP8_GEMV unset / =8; the 15:42 run of 2026-12-07 also had the since removed =p / =q) and the
# bf16 one; `frspec bench throughput` on the 8B shape
# at batch 1..128 (AR step, FR 32k iterations, auto's choice); the PyTorch batched graph loop of the
# same shape in the same call; the job at --batch 8 / 32. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=480] [FP8_AB="4 p"] bash tests/gpu/verify_batch.sh
set -o pipefail
LIMIT=${LIMIT:-480}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_fp8 || exit 1
echo "built ($(left) s left)"
need 150 "test_cuda_batch" && frs_test test_cuda_batch 120
need 120 "test_cuda_fp8" && frs_test test_cuda_fp8 60
if need 60 "jobs b64 b1"; then
    for r in 1 2; do for pol in off auto; do JOB_TAG=_r$r frs_job 64 $pol 40 | sed "s/^/[b64 $pol r$r] /"; done; done
    FRS_CUBLASLT=h JOB_TAG=_untimed frs_job 64 off 40 | sed "s/^/[b64 off FRS_CUBLASLT=h] /"
    FRS_CUBLASLT=p JOB_TAG=_pern frs_job 64 off 40 | sed "s/^/[b64 off FRS_CUBLASLT=p] /"
    for ml in EAGER LAZY; do # the process's wall time with the CUDA modules loaded at start-up / at first use
        t0=$(date +%s%N); CUDA_MODULE_LOADING=$ml JOB_TAG=_$ml frs_job 64 off 60 | sed "s/^/[b64 off $ml] /"
        echo "[b64 off $ml] process wall $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    done
    frs_job 1 off 60 | sed "s/^/[b1 off] /"
    grep -h "^backend" "$OUT"/trace_*.txt | head -8
fi
for g in ${FP8_AB:-4 8}; do
    need 40 "FP8 decode $g" || break
    [ "$g" = 4 ] && pre=llama3-8b,llama3-8b-fp8 || pre=llama3-8b-fp8
    env $([ "$g" = 4 ] || echo FRS_FP8_GEMV=$g) timeout 40 $B/frspec bench --preset $pre --quick --short --iters 6 \
        --steps 20 --json "$OUT/bench_fp8_$g.json" 2>&1 | grep -E "^==|^1024 |^FR 32k  " | sed "s/^/[FP8_GEMV $g] /" |
        tee -a "$OUT/bench_fp8.log"
done
need 100 "throughput" && timeout 110 $B/frspec bench throughput --preset llama3-8b --batches 1,4,8,16,32,64,128 --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
need 80 "torch" && PYTHONUNBUFFERED=1 timeout 90 python3 tests/bench/torch_baseline.py --preset llama3-8b --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
if need 40 "jobs b8 b32"; then
    for b in 8 32; do for pol in off auto; do frs_job $b $pol 30 | sed "s/^/[b$b $pol] /"; done; done
fi
python3 tests/bench/job_identical.py "$OUT"
echo "end ($(left) s left)"
