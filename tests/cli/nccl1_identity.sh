#!/usr/bin/env bash
# nccl1_identity.sh - on one GPU: the NCCL path (a communicator of size 1, --force-nccl: every
# all-reduce and the distributed argmax go through NCCL) gives the same tokens as the plain
# single-GPU run, autoregressive and speculative, greedy and sampled; and the CUDA backend agrees
# with the CPU backend where the fixture's margins allow (greedy on the constructed Markov pair).
# Exit 77 (skipped) without a GPU.
# usage: nccl1_identity.sh FRSPEC FIXTURES MPIEXEC [MPI flags...]
set -u
FRSPEC=$1 FIX=$2 MPIEXEC=$3
shift 3
MPIFLAGS=("$@")
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
    echo "no GPU: skipped"
    exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0 checks=0
tokens() { grep -o '"tokens":\[[^]]*\]' "$1"; }
run() { # run OUT ARGS...   (plain process)
    local out=$1
    shift
    "$FRSPEC" generate --json --quiet "$@" > "$out" 2> "$out.err" || { echo "FAIL: $* exited $?"; cat "$out.err"; fail=$((fail + 1)); }
}
run_nccl() { # run_nccl OUT ARGS...   (one MPI rank with a size-1 NCCL communicator)
    local out=$1
    shift
    "$MPIEXEC" -np 1 "${MPIFLAGS[@]}" "$FRSPEC" generate --force-nccl --json --quiet "$@" > "$out" 2> "$out.err" ||
        { echo "FAIL: --force-nccl $* exited $?"; cat "$out.err"; fail=$((fail + 1)); }
}
same() {
    checks=$((checks + 1))
    if [ -z "$(tokens "$2")" ] || [ "$(tokens "$2")" != "$(tokens "$3")" ]; then
        echo "FAIL: $1"; echo "  $(tokens "$2")"; echo "  $(tokens "$3")"; fail=$((fail + 1))
    else
        echo "ok: $1"
    fi
}
MK=$FIX/spec/markov-target
for args in "--no-draft" "--draft $FIX/spec/markov-noisy --tree-depth 6 --tree-topk 10 --tree-size 60" \
            "--draft $FIX/spec/markov-noisy --temperature 0.8 --top-p 0.9 --seed 5"; do
    P=(--model "$MK" --device cuda --max-new-tokens 40 --prompt-ids 1,5,9,33,2 --ignore-eos $args)
    run "$TMP/a.json" "${P[@]}"
    run_nccl "$TMP/b.json" "${P[@]}"
    same "cuda: NCCL size-1 == plain ($args)" "$TMP/a.json" "$TMP/b.json"
done
P=(--model "$MK" --max-new-tokens 40 --prompt-ids 1,5,9,33,2 --ignore-eos --draft "$FIX/spec/markov-exact")
run "$TMP/c.json" "${P[@]}" --device cpu
run "$TMP/g.json" "${P[@]}" --device cuda
same "markov-exact greedy: cuda == cpu" "$TMP/c.json" "$TMP/g.json"
run "$TMP/ga.json" --model "$MK" --max-new-tokens 40 --prompt-ids 1,5,9,33,2 --ignore-eos --device cuda --no-draft
same "markov greedy on cuda: speculative == autoregressive" "$TMP/ga.json" "$TMP/g.json"
echo "$((checks - fail)) passed, $fail failed"
[ $fail -eq 0 ]
