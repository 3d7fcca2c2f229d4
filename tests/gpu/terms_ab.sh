#!/usr/bin/env bash
# terms_ab.sh - the warp-per-row split combine (FRS_ATT_COMBINE=w) and the two-term tree attention
# (FRS_BATCH_ATT_TERMS=2) against the defaults, in one build, within LIMIT seconds (default 300):
# test_cuda_batch (both against the defaults' bits / the contiguous kernel / the CPU), test_cuda_model
# (the combine bit-identical through the decode), test_cuda_ops; `frspec bench throughput --preset
# llama3-8b --fr-only` at BATCHES (default 1,4,8) in ROUNDS (default 2) rounds of: the defaults,
# FRS_ATT_COMBINE=w, FRS_BATCH_ATT_TERMS=2, both; `frspec bench --preset llama3-8b,llama3-8b-fp8 --quick
# --short` under the defaults and FRS_ATT_COMBINE=w (the single-sequence decode's combine); the default
# pair's 512-prompt job at --batch 64 under both, their results compared token for token. Logs under $OUT.
# usage (repo root, carry .deps): [LIMIT=300] bash tests/gpu/terms_ab.sh
set -o pipefail
LIMIT=${LIMIT:-300}
source tests/gpu/build_lib.sh
frs_build frspec test_cuda_batch test_cuda_ops test_cuda_model || exit 1
echo "built ($(left) s left)"
need 200 "test_cuda_batch" && frs_test test_cuda_batch 120
need 150 "test_cuda_model" && frs_test test_cuda_model 50
need 130 "test_cuda_ops" && frs_test test_cuda_ops 60
tp() { # tag env
    local tag=$1; shift
    env "$@" timeout 40 $B/frspec bench throughput --preset llama3-8b --batches ${BATCHES:-1,4,8} --steps 8 --fr-only \
        --json "$OUT/tp_$tag.json" > "$OUT/tp_$tag.log" 2>&1
    echo "[$tag] rc $?"; grep -E "^FR" "$OUT/tp_$tag.log" | sed "s/^/[$tag] /"
}
for r in $(seq 1 ${ROUNDS:-2}); do
    need 90 "round $r" || break
    tp def_r$r FRS_X=1
    tp warp_r$r FRS_ATT_COMBINE=w
    tp two_r$r FRS_BATCH_ATT_TERMS=2
    tp both_r$r FRS_ATT_COMBINE=w FRS_BATCH_ATT_TERMS=2
done
for v in def warp; do
    need 50 "bench 8b $v" || break
    e=FRS_X=1; [ $v = warp ] && e=FRS_ATT_COMBINE=w
    env $e timeout 45 $B/frspec bench --preset llama3-8b,llama3-8b-fp8 --quick --short --iters 6 --steps 20 \
        > "$OUT/bench_8b_$v.log" 2>&1
    echo "[8b $v] rc $?"; grep -E "^== |^1024|FR 32k" "$OUT/bench_8b_$v.log" | sed "s/^/[8b $v] /"
done
if need 30 "jobs"; then
    frs_job 64 off 20 | sed "s/^/[b64 def] /"
    FRS_ATT_COMBINE=w JOB_TAG=_warp frs_job 64 off 20 | sed "s/^/[b64 warp] /"
    python3 - "$OUT/job_b64_off.jsonl" "$OUT/job_b64_off_warp.jsonl" <<'PY'
import json, sys
a = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open(sys.argv[1])}
b = {json.loads(l)["id"]: json.loads(l)["tokens"] for l in open(sys.argv[2])}
print(f"jobs: {sum(a[i] == b.get(i) for i in a)} of {len(a)} results identical, {len(b)} under the warp combine")
PY
fi
echo "end ($(left) s left)"
