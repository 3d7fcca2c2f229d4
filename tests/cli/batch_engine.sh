#!/usr/bin/env bash
# batch_engine.sh - `frspec generate --prompts` through the batched engine (runtime/batch_engine.c):
# a job's tokens are identical at --batch 1, 3 and 8, for --spec-policy off / fixed / auto,
# greedy and seeded sampling, with a KV pool too small for all prompts at once (preemption shown
# in the summary), equal to each prompt run alone (`--prompt`, the single-sequence engine); a
# job killed with SIGKILL mid-way and rerun with --resume ends with every prompt exactly once and
# the same tokens; the step token budget fills the batch at once (--step-tokens); a stuck step is
# ended by the step watchdog; under mpirun the batched job at
# TP=2 equals TP=1.
# usage: batch_engine.sh FRSPEC FIXTURES MPIEXEC [MPI flags...]
set -u
FRSPEC=$1 FIX=$2 MPIEXEC=$3
shift 3
MPIFLAGS=("$@")
M=$FIX/models/tied-f32         # splits at TP 2
D=$FIX/spec/head-gqa
source "$(dirname "$0")/lib.sh" # TMP, check, check_summary
# id -> tokens, one line each, sorted by id (results arrive in finishing order)
by_id() { python3 -c '
import json, sys
rows = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    rows.setdefault(j["id"], []).append(j.get("tokens", j.get("error")))
for k in sorted(rows):
    print(k, json.dumps(rows[k]))' "$1"; }

words=(alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu)
for i in $(seq 0 11); do
    n=$((1 + (i * 7) % 23))
    text=$(printf '%s ' $(for k in $(seq 1 $n); do echo "${words[$(((i + k) % 12))]}"; done))
    printf '{"id": "p%02d", "prompt": "%s"}\n' "$i" "$text"
done > "$TMP/in.jsonl"

G=(--model "$M" --device cpu --draft "$D" --tree-depth 4 --tree-topk 4 --tree-size 16 --quiet)
for mode in greedy sampled; do
    S=()
    [ $mode = sampled ] && S=(--temperature 0.9 --top-p 0.9 --seed 11)
    ref=""
    for cfg in "1 off" "1 fixed" "3 fixed" "8 auto" "8 off" "3 auto" "4 fixed pool"; do
        set -- $cfg
        extra=()
        [ "${3:-}" = pool ] && extra=(--kv-blocks 8) # 128 positions: the longest prompt (82 tokens) + 20 + a tree
        out="$TMP/$mode-$1-$2-${3:-x}.jsonl"
        "$FRSPEC" generate "${G[@]}" "${S[@]}" --prompts "$TMP/in.jsonl" --out "$out" --max-new-tokens 20 \
            --batch $1 --spec-policy $2 "${extra[@]}" 2> "$out.err"
        rc=$?
        [ $rc -ne 0 ] && cat "$out.err"
        check "$mode batch $1 $2 ${3:-}: exit 0, 12 results" [ $rc -eq 0 -a "$(grep -c '"tokens"' "$out")" = 12 ]
        by_id "$out" > "$out.ids"
        if [ -z "$ref" ]; then
            ref=$out.ids
        else
            check "$mode batch $1 $2 ${3:-}: tokens == batch 1 off" cmp -s "$ref" "$out.ids"
        fi
        if [ "${3:-}" = pool ]; then
            "$FRSPEC" generate "${G[@]/--quiet/--json}" "${S[@]}" --prompts "$TMP/in.jsonl" --max-new-tokens 20 \
                --batch $1 --spec-policy $2 "${extra[@]}" 2>&1 > /dev/null | grep -o '[0-9]* preemptions' > "$out.pre"
            check "$mode: a pool of 8 blocks preempts ($(cat "$out.pre"))" grep -qv '^0 preemptions' "$out.pre"
        fi
    done
    # each equals the prompt run alone by the single-sequence engine (speculative)
    for id in p00 p05 p11; do
        text=$(grep "\"$id\"" "$TMP/in.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["prompt"])')
        "$FRSPEC" generate "${G[@]}" "${S[@]}" --prompt "$text" --max-new-tokens 20 --json > "$TMP/one.json" 2> /dev/null
        one=$(python3 -c 'import json,sys; print(json.dumps([json.load(open(sys.argv[1]))["tokens"]]))' "$TMP/one.json")
        check "$mode $id: batched == --prompt alone" [ "$(grep "^$id " "$ref" | cut -d' ' -f2-)" = "$one" ]
    done
done

# the step token budget (--step-tokens; FRS_BATCH_TRACE: one line per step): by default the first
# step prefills all 8 admitted prompts, so the first decode step runs 8 sequences; with a budget of
# 8 tokens (what a --batch 8 --spec-policy off job had before the budget was its own) admissions
# trickle in, one prompt a step; the tokens are the same either way
for st in default 8; do
    sto=()
    [ $st != default ] && sto=(--step-tokens $st)
    FRS_BATCH_TRACE="$TMP/trace-$st.txt" "$FRSPEC" generate "${G[@]}" --prompts "$TMP/in.jsonl" --out "$TMP/budget-$st.jsonl" \
        --max-new-tokens 20 --batch 8 --spec-policy off "${sto[@]}" 2> /dev/null
    first=$(grep -m1 -o '^step [0-9]* n [0-9]*' "$TMP/trace-$st.txt" | awk '{print $4}')
    if [ $st = default ]; then
        check "default step budget: the first decode step runs all 8 sequences (ran ${first:-none})" [ "${first:-0}" = 8 ]
    else
        check "--step-tokens 8: the first decode step runs fewer (ran ${first:-none})" [ "${first:-8}" -lt 8 ]
    fi
    by_id "$TMP/budget-$st.jsonl" > "$TMP/budget-$st.ids"
    check "--step-tokens $st: tokens == batch 1 off" cmp -s "$TMP/greedy-1-off-x.jsonl.ids" "$TMP/budget-$st.ids"
done

# SIGKILL mid-way, then --resume: every id once, the same tokens as an uninterrupted run
for i in $(seq 12 59); do
    printf '{"id": "q%02d", "prompt": "%s"}\n' "$i" "$(printf 'word%d ' $(seq 1 $((1 + i % 17))))"
done > "$TMP/big.jsonl"
K=(--model "$M" --device cpu --draft "$D" --quiet --prompts "$TMP/big.jsonl" --max-new-tokens 40 --batch 4)
"$FRSPEC" generate "${K[@]}" --out "$TMP/full.jsonl" 2> /dev/null
"$FRSPEC" generate "${K[@]}" --out "$TMP/killed.jsonl" 2> /dev/null &
pid=$!
for _ in $(seq 1 600); do
    [ -f "$TMP/killed.jsonl" ] && [ "$(wc -l < "$TMP/killed.jsonl")" -ge 5 ] && break
    sleep 0.02
done
kill -9 $pid 2> /dev/null
wait $pid 2> /dev/null
done_before=$(wc -l < "$TMP/killed.jsonl")
check "killed mid-way ($done_before of 48 written)" [ "$done_before" -ge 1 -a "$done_before" -lt 48 ]
"$FRSPEC" generate "${K[@]}" --out "$TMP/killed.jsonl" --resume 2> /dev/null
check "--resume: exit 0" [ $? -eq 0 ]
by_id "$TMP/full.jsonl" > "$TMP/full.ids"
by_id "$TMP/killed.jsonl" > "$TMP/killed.ids"
check "--resume: every id exactly once with the uninterrupted run's tokens" cmp -s "$TMP/full.ids" "$TMP/killed.ids"

# the step watchdog is armed around each batched step (test hook FRS_TEST_STALL_STEP: the host stops
# at step N): the job ends non-zero within the limit, naming the step
t0=$(date +%s)
FRS_TEST_STALL_STEP=3 timeout 60 "$FRSPEC" generate "${K[@]}" --out "$TMP/stall.jsonl" --watchdog-seconds 2 \
    > /dev/null 2> "$TMP/stall.err"
rc=$? t1=$(date +%s)
check "a stuck batched step ends the job non-zero within the watchdog's 2 s (+4 s)" \
    [ $rc -ne 0 -a $rc -ne 124 -a $((t1 - t0)) -le 6 ]
check "... naming the batched engine's step 3" grep -q "batched engine', step 3' did not finish within 2 s" "$TMP/stall.err"

# TP=2 under mpirun == TP=1 (greedy, sampled, and with a small pool: preemption under TP)
for S in "" "--temperature 0.9 --seed 3" "--kv-blocks 8 --spec-policy fixed"; do
    "$MPIEXEC" -np 2 "${MPIFLAGS[@]}" "$FRSPEC" generate --tp 2 "${G[@]}" --spec-policy auto $S --prompts "$TMP/in.jsonl" \
        --out "$TMP/tp2.jsonl" --max-new-tokens 20 --batch 5 2> "$TMP/tp2.err"
    rc=$?
    [ $rc -ne 0 ] && cat "$TMP/tp2.err"
    "$FRSPEC" generate "${G[@]}" --spec-policy auto $S --prompts "$TMP/in.jsonl" --out "$TMP/tp1.jsonl" \
        --max-new-tokens 20 --batch 5 2> /dev/null
    by_id "$TMP/tp2.jsonl" > "$TMP/tp2.ids"
    by_id "$TMP/tp1.jsonl" > "$TMP/tp1.ids"
    check "TP=2 batched ${S:-greedy} == TP=1 (exit $rc)" [ $rc -eq 0 ] && cmp -s "$TMP/tp1.ids" "$TMP/tp2.ids" && [ -s "$TMP/tp1.ids" ]
    rm -f "$TMP/tp2.jsonl" "$TMP/tp1.jsonl"
done
check_summary
