#!/usr/bin/env bash
# verify_batch.sh - on the GPU machine, one call, the batched engine's figures in priority order (each
# part skipped when less than its time is left of LIMIT seconds, default 480): build, test_cuda_batch,
# the default pair's 512-prompt job (tests/bench/prompts/job512.jsonl, 32 new tokens, --ignore-eos)
# at --batch 1 / 8 / 32 / 64 under off and auto (and fixed at 64), with per-step traces; `frspec bench
# throughput` on the 8B shape at batch 1..128 (AR step, FR 32k iterations, auto's choice); the
# PyTorch batched graph loop of the same shape in the same call. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=480] bash tests/gpu/verify_batch.sh
set -o pipefail
LIMIT=${LIMIT:-480}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch || exit 1
echo "built ($(left) s left)"
need 150 "test_cuda_batch" && frs_test test_cuda_batch 120
if need 60 "jobs b64 b1"; then
    for pol in off auto fixed; do frs_job 64 $pol 40 | sed "s/^/[b64 $pol] /"; done
    for pol in off auto; do frs_job 1 $pol 60 | sed "s/^/[b1 $pol] /"; done
fi
need 100 "throughput" && timeout 110 $B/frspec bench throughput --preset llama3-8b --batches 1,4,8,16,32,64,128 --steps 10 \
    --json "$OUT/throughput.json" 2>&1 | grep -v allocating | tee "$OUT/throughput.log"
need 80 "torch" && PYTHONUNBUFFERED=1 timeout 90 python3 tests/bench/torch_baseline.py --preset llama3-8b --skip-single \
    --batches 1,8,32,64,128 --steps 10 --json "$OUT/torch_batch.json" 2>&1 | grep -v Warning | tee "$OUT/torch.log"
if need 40 "jobs b8 b32"; then
    for b in 8 32; do for pol in off auto; do frs_job $b $pol 30 | sed "s/^/[b$b $pol] /"; done; done
fi
python3 tests/bench/job_identical.py "$OUT"
echo "end ($(left) s left)"
