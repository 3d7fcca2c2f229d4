#!/usr/bin/env bash
# verify_min.sh - the smallest GPU check (about 2 minutes, for a nearly spent device budget):
# build frspec, test_cuda_batch and test_cuda_fp8 and run them (the padded batched verify, the FP8
# GEMV at 4 and 8 loads in flight against the CPU), the default pair's 512-prompt job at --batch 64
# off / auto (per-step traces) and --batch 1 off, then the 8B FP8 decode with FRS_FP8_GEMV=8 against
# the default. Logs under $OUT.
# usage (repo root, carry .deps): bash tests/gpu/verify_min.sh
set -o pipefail
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_fp8 || exit 1
frs_test test_cuda_batch 60
frs_test test_cuda_fp8 60
frs_job 64 off 25
frs_job 64 auto 25
frs_job 1 off 25
for ab in FRS_FP8_GEMV=4 FRS_FP8_GEMV=8; do
    env $ab timeout 30 $B/frspec bench --preset llama3-8b-fp8 --quick --short --iters 6 --steps 20 2>&1 |
        grep -E "^1024 " | sed "s/^/[$ab] /"
done
