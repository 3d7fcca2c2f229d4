#!/usr/bin/env bash
# verify_short.sh - the A/Bs of the opt-in kernels first, then their tests, within LIMIT seconds
# (default 280; for a nearly spent device budget): build frspec, test_cuda_batch and test_cuda_fp8;
# `frspec bench throughput` (8B, decode only, batch 1 / 64 / 128) with the defaults and with the
# decode steps on the CUDA-core (FRS_BATCH_ATT_MMA=1) and the tensor-core attention (=2, the default); the 8B FP8 bench with the defaults
# (and bf16); then test_cuda_fp8 and test_cuda_batch with the time left. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=280] bash tests/gpu/verify_short.sh
set -o pipefail
LIMIT=${LIMIT:-280}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_fp8 || exit 1
echo "built ($(left) s left)"
for ab in FRS_BATCH_ATT_MMA=1 FRS_BATCH_ATT_MMA=2; do
    need 35 "throughput $ab" && env $ab timeout 40 $B/frspec bench throughput --preset llama3-8b --batches 1,64,128 \
        --steps 10 --no-spec --json "$OUT/throughput_${ab#*=}.json" 2>&1 | grep -E "^ *[0-9]+ |copy bandwidth" | sed "s/^/[$ab] /"
done
need 45 "8B bf16 + FP8" && timeout 50 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 \
    --steps 20 2>&1 | grep -E "^==|^1024 |^FR 32k  " | sed "s/^/[defaults] /"
need 25 "test_cuda_fp8" && frs_test test_cuda_fp8 $(( $(left) - 20 < 60 ? $(left) - 20 : 60 ))
need 25 "test_cuda_batch" && frs_test test_cuda_batch $(( $(left) - 10 ))
echo "end ($(left) s left)"
