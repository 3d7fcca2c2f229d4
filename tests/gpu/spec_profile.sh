#!/usr/bin/env bash
# spec_profile.sh - the job's GEMM-choice cost and where the batched FR-Spec iteration's time goes,
# within LIMIT seconds (default 560), in priority order: build; test_cuda_batch, test_cuda_ops; the default pair's
# 512-prompt job (frs_job) at --batch 64 off RUNS times (default 2) and at --batch 1 off, with their
# traces' backend lines; `frspec bench throughput --preset llama3-8b --fr-only` at batch 1, 2, 4, 8, 32
# (draft / verify / iteration wall times) under each of AB (default: the defaults, and
# FRS_BATCH_DRAFT=h: the trees built on the host); Nsight Compute kernel durations of the FR-Spec iteration at
# each batch of NCU_BATCHES (default "4 1"), cut into draft and verify kernel time by
# tests/bench/ncu_phases.py (the wall time minus the kernel time is the host's part). Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=560] [RUNS=2] [NCU_BATCHES="4 1"] bash tests/gpu/spec_profile.sh
set -o pipefail
LIMIT=${LIMIT:-560}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_ops || exit 1
echo "built ($(left) s left)"
need 200 "test_cuda_batch" && frs_test test_cuda_batch 100
need 180 "test_cuda_ops" && frs_test test_cuda_ops 60
for r in $(seq 1 ${RUNS:-2}); do
    need 150 "job b64 r$r" && JOB_TAG=_r$r frs_job 64 off 30 | sed "s/^/[b64 off r$r] /"
done
need 140 "job b1" && frs_job 1 off 40 | sed "s/^/[b1 off] /"
for t in "$OUT"/trace_*.txt; do [ -f "$t" ] && echo "$(basename $t): $(grep -h '^backend' $t)"; done
for ab in ${AB:-FRS_X=1 FRS_BATCH_DRAFT=h}; do
    need 120 "throughput fr-only $ab" || break
    env $ab timeout 90 $B/frspec bench throughput --preset llama3-8b --batches 1,2,4,8,32 --steps 10 --fr-only \
        --json "$OUT/throughput_fr_${ab#*=}.json" > "$OUT/throughput_fr_${ab#*=}.log" 2>&1
    echo "throughput $ab rc $?"; grep -E "^ *[0-9]+ |^FR|copy bandwidth" "$OUT/throughput_fr_${ab#*=}.log" | sed "s/^/[$ab] /"
done
for nb in ${NCU_BATCHES:-4 1}; do
    need 100 "ncu batch $nb" || break
    timeout $(( $(left) - 20 < 200 ? $(left) - 20 : 200 )) ncu --clock-control none --metrics gpu__time_duration.sum \
        --csv --page raw $B/frspec bench throughput --preset llama3-8b --batches $nb --steps 2 --fr-only \
        > "$OUT/ncu_fr_b$nb.csv" 2> "$OUT/ncu_fr_b$nb.err"
    echo "ncu batch $nb rc $? ($(wc -l < "$OUT/ncu_fr_b$nb.csv") lines)"
    python3 tests/bench/ncu_phases.py "$OUT/ncu_fr_b$nb.csv" --iters 2 --top 14 | tee "$OUT/ncu_fr_b$nb.txt"
    gzip -f "$OUT/ncu_fr_b$nb.csv"
done
echo "end ($(left) s left)"
