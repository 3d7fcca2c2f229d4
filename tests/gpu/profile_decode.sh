#!/usr/bin/env bash
# profile_decode.sh - where the batched decode step's time goes (8B shape, ctx 1k): build frspec and
# test_cuda_batch; run test_cuda_batch; `frspec bench throughput --no-spec` at batch 64 / 128 (the
# step times of this run); then Nsight Compute over a few batch-NCU_BATCH steps (every kernel node of
# the step's graph: its duration and DRAM bytes, clocks left alone) into $OUT/ncu_bN.csv, summed per
# kernel name by tests/bench/ncu_summary.py; then JOBS="64:off 64:auto ..." default-pair jobs (frs_job).
# usage (repo root, carry .deps): [NCU_BATCH=64] [JOBS=...] bash tests/gpu/profile_decode.sh
set -o pipefail
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch || exit 1
frs_test test_cuda_batch 200
timeout 90 $B/frspec bench throughput --preset llama3-8b --batches 1,64,128 --steps 20 --no-spec \
    --json "$OUT/throughput.json" 2>&1 | grep -E "^ *[0-9]+ |copy bandwidth" | tee "$OUT/throughput.log"
NB=${NCU_BATCH:-64}
# the bench's steps: 2 untimed + 3 timed per batch size; every kernel of them (the weights' generation
# kernels first: skipped by name filter on none, so all are listed; the summary keeps the step kernels)
timeout 240 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
    --csv --page raw $B/frspec bench throughput --preset llama3-8b --batches $NB --steps 3 --no-spec \
    > "$OUT/ncu_b$NB.csv" 2> "$OUT/ncu_b$NB.err"
echo "ncu rc $? ($(wc -l < "$OUT/ncu_b$NB.csv") lines)"
python3 tests/bench/ncu_summary.py "$OUT/ncu_b$NB.csv" | tee "$OUT/ncu_b$NB.txt"
for j in ${JOBS:-}; do
    JOB_TAG=_${RUN:-r}$((++k)) frs_job ${j%%:*} ${j#*:} | sed "s/^/[job $j] /"
done
