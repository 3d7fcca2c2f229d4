#!/usr/bin/env bash
# terms_ab.sh - the split combine as a warp per (row, head) and the two-term tree attention
# (FRS_BATCH_ATT_TERMS=2) against the commit before them, within LIMIT seconds (default 360): build
# this tree and OLD_TAR (default .deps/old.tar, `git archive` of the baseline); test_cuda_batch,
# test_cuda_ops, test_cuda_model; `frspec bench throughput --preset llama3-8b --fr-only` at BATCHES
# (default 1,4,8) in ROUNDS (default 2) rounds of: this tree, this tree with FRS_BATCH_ATT_TERMS=2,
# the baseline; `frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short` for this tree and
# the baseline (the single-sequence decode's combine); the default pair's 512-prompt job at --batch
# 64 with both binaries, their results compared token for token. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=360] bash tests/gpu/terms_ab.sh
set -o pipefail
LIMIT=${LIMIT:-360}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_ops test_cuda_model || exit 1
OLD=/tmp/frs-old-src; OB=/tmp/frs-old-build
rm -rf $OLD && mkdir -p $OLD && tar xf ${OLD_TAR:-.deps/old.tar} -C $OLD && \
    cmake -S $OLD -B $OB -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        > "$OUT/build_old.log" 2>&1 && ninja -C $OB frspec >> "$OUT/build_old.log" 2>&1 || { tail -20 "$OUT/build_old.log"; OB=; }
echo "built ($(left) s left)"
need 220 "test_cuda_batch" && frs_test test_cuda_batch 120
need 160 "test_cuda_ops" && frs_test test_cuda_ops 60
need 140 "test_cuda_model" && frs_test test_cuda_model 50
tp() { # tag binary env
    local tag=$1 bin=$2; shift 2
    env "$@" timeout 40 $bin bench throughput --preset llama3-8b --batches ${BATCHES:-1,4,8} --steps 8 --fr-only \
        --json "$OUT/tp_$tag.json" > "$OUT/tp_$tag.log" 2>&1
    echo "[$tag] rc $?"; grep -E "^FR" "$OUT/tp_$tag.log" | sed "s/^/[$tag] /"
}
for r in $(seq 1 ${ROUNDS:-2}); do
    need 90 "round $r" || break
    tp new_r$r $B/frspec FRS_X=1
    tp two_r$r $B/frspec FRS_BATCH_ATT_TERMS=2
    [ -n "$OB" ] && tp old_r$r $OB/frspec FRS_X=1
done
for v in new old; do
    bin=$B/frspec; [ $v = old ] && bin=$OB/frspec
    [ -x "$bin" ] || continue
    need 50 "bench 8b $v" || break
    timeout 45 $bin bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 > "$OUT/bench_8b_$v.log" 2>&1
    echo "[8b $v] rc $?"; grep -E "^== |^1024|FR 32k" "$OUT/bench_8b_$v.log" | sed "s/^/[8b $v] /"
done
if need 30 "jobs" && [ -n "$OB" ]; then
    frs_job 64 off 20 | sed "s/^/[b64 new] /"
    B=$OB JOB_TAG=_old frs_job 64 off 20 | sed "s/^/[b64 old] /"
    python3 - "$OUT/job_b64_off.jsonl" "$OUT/job_b64_off_old.jsonl" <<'PY'
import json, sys
a = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[1])}
b = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[2])}
key = next(k for k in ("tokens", "ids", "output_ids", "text") if k in next(iter(a.values())))
same = sum(a[i][key] == b[i][key] for i in a if i in b)
print(f"jobs: {same} of {len(a)} results identical ({key}), {len(b)} in the baseline's")
PY
fi
echo "end ($(left) s left)"
