#!/usr/bin/env bash
# profile_decode.sh - where the batched decode step's time goes (8B shape, ctx 1k), within LIMIT
# seconds (default 560): build frspec and test_cuda_batch; run test_cuda_batch; `frspec bench
# throughput --no-spec` at batch 1 / 64 / 128 under each of AB (default: FRS_BATCH_ATT_MMA=2 and =3,
# the decode's warp split without / with the K/V ring); Nsight Compute over a few batch-NCU_BATCH
# steps (every kernel of the step: duration and DRAM bytes, clocks left alone) into $OUT/ncu_bN.csv,
# summed per kernel name by tests/bench/ncu_summary.py (with NCU_ENV set in its environment); then
# JOBS="64:off 64:auto ..." default-pair jobs (frs_job, traces included).
# usage (repo root, carry .deps): [LIMIT=560] [NCU_BATCH=64] [JOBS=...] bash tests/gpu/profile_decode.sh
set -o pipefail
LIMIT=${LIMIT:-560}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch || exit 1
echo "built ($(left) s left)"
frs_test test_cuda_batch 200
grep -E "paged attention \(" "$OUT/test_cuda_batch.log" | head -20
for ab in ${AB:-FRS_BATCH_ATT_MMA=2 FRS_BATCH_ATT_MMA=3}; do
    need 60 "throughput $ab" && env $ab timeout 60 $B/frspec bench throughput --preset llama3-8b --batches 1,64,128 \
        --steps 20 --no-spec --json "$OUT/throughput_${ab#*=}.json" 2>&1 | grep -E "^ *[0-9]+ |copy bandwidth" |
        sed "s/^/[$ab] /" | tee -a "$OUT/throughput.log"
done
NB=${NCU_BATCH:-64}
for ne in ${NCU_ENV:-FRS_BATCH_ATT_MMA=2}; do
    need 150 "ncu $ne" || break
    tag=b${NB}_${ne#*=}
    env $ne timeout 140 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
        --csv --page raw $B/frspec bench throughput --preset llama3-8b --batches $NB --steps 3 --no-spec \
        > "$OUT/ncu_$tag.csv" 2> "$OUT/ncu_$tag.err"
    echo "ncu $ne rc $? ($(wc -l < "$OUT/ncu_$tag.csv") lines)"
    python3 tests/bench/ncu_summary.py "$OUT/ncu_$tag.csv" | tee "$OUT/ncu_$tag.txt" | head -20
done
for j in ${JOBS:-}; do
    need 30 "job $j" || break
    k=$((k + 1)); JOB_TAG=_${RUN:-r}$k frs_job ${j%%:*} ${j#*:} | sed "s/^/[job $j] /"
done
echo "end ($(left) s left)"
