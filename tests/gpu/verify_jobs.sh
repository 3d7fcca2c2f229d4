#!/usr/bin/env bash
# verify_jobs.sh - the default pair's 512-prompt job only, within LIMIT seconds (default 240): build;
# test_cuda_ops and test_cuda_batch; the job (frs_job: 32 new tokens, --ignore-eos, traces) at --batch
# 64 under off and auto alternating RUNS times (default 3), once more under each A/B variable of AB
# (default "FRS_CUBLASLT=p": GEMM algorithms chosen at every row count), and at --batch 1 off; the
# traces' backend lines; results identical to --batch 1 off. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=240] [RUNS=3] [AB="..."] bash tests/gpu/verify_jobs.sh
set -o pipefail
LIMIT=${LIMIT:-240}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_ops test_cuda_batch || exit 1
echo "built ($(left) s left)"
need 120 "test_cuda_ops" && frs_test test_cuda_ops 60
need 100 "test_cuda_batch" && frs_test test_cuda_batch 90
for r in $(seq 1 ${RUNS:-3}); do
    for pol in off auto; do need 15 "job $pol r$r" && JOB_TAG=_r$r frs_job 64 $pol 30 | sed "s/^/[b64 $pol r$r] /"; done
done
for ab in ${AB:-FRS_CUBLASLT=p}; do
    need 15 "job $ab" && (export "$ab"; JOB_TAG=_${ab#*=} frs_job 64 off 30) | sed "s/^/[b64 off $ab] /"
done
need 20 "job b1" && frs_job 1 off 40 | sed "s/^/[b1 off] /"
for t in "$OUT"/trace_*.txt; do echo "$(basename $t): $(grep -h '^backend' $t)"; done
python3 tests/bench/job_identical.py "$OUT"
echo "end ($(left) s left)"
