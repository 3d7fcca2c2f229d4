#!/usr/bin/env bash
# draft_ab.sh - the batched draft's kernels (tensor-core attention, top-k loads in batches) against the
# commit before them, within LIMIT seconds (default 420): build this tree and OLD_TAR (default
# .deps/old.tar: `git archive` of the baseline's sources, configured and built beside it); test_cuda_batch,
# test_cuda_ops; `frspec bench throughput --preset llama3-8b --fr-only` at BATCHES (default 1,2,4,8) in
# ROUNDS (default 2) rounds of: this tree with FRS_BATCH_DRAFT=h (host-built trees), this tree with FRS_BATCH_DRAFT=d, the
# baseline; `frspec bench --preset llama3-8b --quick --short` (the single-sequence draft: the top-k
# kernel) for both; an Nsight Compute split of the batch-4 iteration (ncu_phases.py). Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=420] bash tests/gpu/draft_ab.sh
set -o pipefail
LIMIT=${LIMIT:-420}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_ops || exit 1
OLD=/tmp/frs-old-src; OB=/tmp/frs-old-build
rm -rf $OLD && mkdir -p $OLD && tar xf ${OLD_TAR:-.deps/old.tar} -C $OLD && \
    cmake -S $OLD -B $OB -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        > "$OUT/build_old.log" 2>&1 && ninja -C $OB frspec >> "$OUT/build_old.log" 2>&1 || { tail -20 "$OUT/build_old.log"; OB=; }
echo "built ($(left) s left)"
need 200 "test_cuda_batch" && frs_test test_cuda_batch 120
need 150 "test_cuda_ops" && frs_test test_cuda_ops 60
tp() { # tag binary [env]
    local tag=$1 bin=$2; shift 2
    env "$@" timeout 40 $bin bench throughput --preset llama3-8b --batches ${BATCHES:-1,2,4,8} --steps 8 --fr-only \
        --json "$OUT/tp_$tag.json" > "$OUT/tp_$tag.log" 2>&1
    echo "[$tag] rc $?"; grep -E "^FR" "$OUT/tp_$tag.log" | sed "s/^/[$tag] /"
}
for r in $(seq 1 ${ROUNDS:-2}); do
    need 100 "round $r" || break
    tp new_r$r $B/frspec FRS_BATCH_DRAFT=h
    tp newdev_r$r $B/frspec FRS_BATCH_DRAFT=d
    [ -n "$OB" ] && tp old_r$r $OB/frspec FRS_X=1
done
for v in new old; do
    bin=$B/frspec; [ $v = old ] && bin=$OB/frspec
    [ -x "$bin" ] || continue
    need 60 "bench 8b $v" || break
    timeout 40 $bin bench --preset llama3-8b --quick --short --iters 6 --steps 20 > "$OUT/bench_8b_$v.log" 2>&1
    echo "[8b $v] rc $?"; grep -E "^1024|FR 32k" "$OUT/bench_8b_$v.log" | sed "s/^/[8b $v] /"
done
if need 70 "ncu batch 4"; then
    timeout $(( $(left) - 15 < 150 ? $(left) - 15 : 150 )) ncu --clock-control none --metrics gpu__time_duration.sum \
        --csv --page raw $B/frspec bench throughput --preset llama3-8b --batches 4 --steps 2 --fr-only \
        > "$OUT/ncu_fr_b4.csv" 2> "$OUT/ncu_fr_b4.err"
    echo "ncu batch 4 rc $?"
    python3 tests/bench/ncu_phases.py "$OUT/ncu_fr_b4.csv" --iters 2 --top 12 | tee "$OUT/ncu_fr_b4.txt"
    gzip -f "$OUT/ncu_fr_b4.csv"
fi
echo "end ($(left) s left)"
