#!/usr/bin/env bash
# tp_identity.sh - the frspec program end to end under mpirun: greedy output at TP=2 and TP=4 is
# token-identical to TP=1, autoregressive and speculative (full vocabulary and an FR-Spec list),
# equal between the two; seeded sampling gives the same tokens at every TP degree (draws are
# keyed by token id, not by rank); every rank agrees (the control plane's consistency check).
# usage: tp_identity.sh FRSPEC FIXTURES MPIEXEC [MPI flags...]
set -u
FRSPEC=$1 FIX=$2 MPIEXEC=$3
shift 3
MPIFLAGS=("$@")
M=$FIX/models/tied-f32         # 4 heads, 4 kv heads, ffn 128: splits at TP 1, 2 and 4
D=$FIX/spec/head-gqa           # an EAGLE-2 head of the same hidden size and vocabulary
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0 checks=0
seq 0 3 200 > "$TMP/fr.txt"    # an FR-Spec list of 67 ids (text format)

tokens() { grep -o '"tokens":\[[^]]*\]' "$1"; }
run() { # run NP OUT ARGS...
    local np=$1 out=$2
    shift 2
    if [ "$np" = 1 ]; then
        "$FRSPEC" generate --json --quiet "$@" > "$out" 2> "$out.err"
    else
        "$MPIEXEC" -np "$np" "${MPIFLAGS[@]}" "$FRSPEC" generate --tp "$np" --json --quiet "$@" > "$out" 2> "$out.err"
    fi
    local rc=$?
    if [ $rc -ne 0 ] || ! tokens "$out" > /dev/null; then
        echo "FAIL: np $np $* exited $rc"; cat "$out.err"; fail=$((fail + 1))
    fi
}
same() { # same WHAT FILE_A FILE_B
    checks=$((checks + 1))
    if [ "$(tokens "$2")" != "$(tokens "$3")" ] || [ -z "$(tokens "$2")" ]; then
        echo "FAIL: $1"; echo "  $(tokens "$2")"; echo "  $(tokens "$3")"; fail=$((fail + 1))
    else
        echo "ok: $1"
    fi
}

P=(--model "$M" --device cpu --max-new-tokens 24)   # the CPU backend: MPI collectives, any rank count
for prompt in "Hello, how are you?" "The capital of France is" "1, 2, 3, 4,"; do
    for np in 1 2 4; do
        run $np "$TMP/ar$np.json" "${P[@]}" --prompt "$prompt"
        run $np "$TMP/sp$np.json" "${P[@]}" --prompt "$prompt" --draft "$D" --tree-depth 4 --tree-topk 4 --tree-size 16
        run $np "$TMP/fr$np.json" "${P[@]}" --prompt "$prompt" --draft "$D" --fr-vocab "$TMP/fr.txt" --fr-vocab-size 32
        run $np "$TMP/sa$np.json" "${P[@]}" --prompt "$prompt" --temperature 0.9 --top-p 0.9 --top-k 50 --seed 11
        run $np "$TMP/ss$np.json" "${P[@]}" --prompt "$prompt" --draft "$D" --temperature 0.9 --top-p 0.9 --seed 11
    done
    for np in 2 4; do
        same "'$prompt' greedy autoregressive TP=$np == TP=1" "$TMP/ar1.json" "$TMP/ar$np.json"
        same "'$prompt' greedy speculative TP=$np == TP=1" "$TMP/sp1.json" "$TMP/sp$np.json"
        same "'$prompt' greedy FR-Spec K=32 TP=$np == TP=1" "$TMP/fr1.json" "$TMP/fr$np.json"
        same "'$prompt' sampled autoregressive TP=$np == TP=1" "$TMP/sa1.json" "$TMP/sa$np.json"
        same "'$prompt' sampled speculative TP=$np == TP=1" "$TMP/ss1.json" "$TMP/ss$np.json"
    done
    same "'$prompt' greedy speculative == autoregressive" "$TMP/ar1.json" "$TMP/sp1.json"
    same "'$prompt' greedy FR-Spec == autoregressive" "$TMP/ar1.json" "$TMP/fr1.json"
done

# long accepted paths (a draft right by construction or by a fraction) at TP 2, where compaction
# and the features kept for the draft are exercised
MK=$FIX/spec/markov-target
for head in markov-exact markov-noisy; do
    for np in 1 2; do
        run $np "$TMP/mk$np.json" --model "$MK" --device cpu --max-new-tokens 40 --prompt-ids 1,5,9,33,2 --ignore-eos \
            --draft "$FIX/spec/$head" --tree-depth 6 --tree-topk 10 --tree-size 60
    done
    run 1 "$TMP/mkar.json" --model "$MK" --device cpu --max-new-tokens 40 --prompt-ids 1,5,9,33,2 --ignore-eos
    same "$head greedy speculative TP=2 == TP=1" "$TMP/mk1.json" "$TMP/mk2.json"
    same "$head greedy speculative == autoregressive" "$TMP/mkar.json" "$TMP/mk1.json"
    echo "   ($head: $(grep -o '"mean_accepted":[0-9.]*' "$TMP/mk2.json") tokens per iteration at TP=2)"
done

# a rank count the model cannot be split into: a clear error and a non-zero exit, no hang
checks=$((checks + 1))
if "$MPIEXEC" -np 3 "${MPIFLAGS[@]}" "$FRSPEC" generate --tp 3 --json --quiet "${P[@]}" --prompt hi > /dev/null 2> "$TMP/np3.err"; then
    echo "FAIL: TP=3 over 4 kv heads did not fail"; fail=$((fail + 1))
elif ! grep -q "num_key_value_heads" "$TMP/np3.err"; then
    echo "FAIL: TP=3 error does not name the field"; cat "$TMP/np3.err"; fail=$((fail + 1))
else
    echo "ok: TP=3 refused: $(grep -m1 -o 'num_key_value_heads[^(]*' "$TMP/np3.err")"
fi
echo "$((checks - fail)) passed, $fail failed"
[ $fail -eq 0 ]
