#!/usr/bin/env bash
# options.sh - option checks and published files through the frspec program (issue 12: items 9,
# 10 and the "small things"): convert-draft never overwrites its input or a non-regular --out,
# vocab build refuses an empty corpus and a truncated or fake .gz, and generate refuses
# meaningless option combinations early, naming the option to change; a step watchdog ends a
# stuck generation step naming the rank and the step (item 11, on the CPU).
# usage: options.sh FRSPEC FIXTURES [ITEM]   (ITEM: run only that item's checks)
set -u
FRSPEC=$1 FIX=$2 ONLY=${3:-}
M=$FIX/models/gqa-bf16
D=$FIX/spec/head-gqa
source "$(dirname "$0")/lib.sh" # TMP, check, check_summary
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
# refused CMD... : non-zero exit (not a crash, not a timeout), stderr in $TMP/err
refused() { timeout 60 "$@" > "$TMP/out" 2> "$TMP/err"; local rc=$?; [ $rc -ne 0 ] && [ $rc -lt 124 ]; }
says() { grep -q -- "$1" "$TMP/err"; }

if want convert; then # item 9: convert-draft never replaces its input or a non-regular file
    cp "$FIX/frvocab/head16/pytorch_model.bin" "$TMP/in.bin"
    cp "$TMP/in.bin" "$TMP/in.orig"
    check "convert-draft --out == --in refused" refused "$FRSPEC" convert-draft --in "$TMP/in.bin" --out "$TMP/in.bin"
    check "... saying why" says "is the input"
    check "... the input untouched" cmp -s "$TMP/in.bin" "$TMP/in.orig"
    ln -s "$TMP/in.bin" "$TMP/link.safetensors"
    check "convert-draft --out a symlink (to the input) refused" \
        refused "$FRSPEC" convert-draft --in "$TMP/in.bin" --out "$TMP/link.safetensors"
    check "... naming the symbolic link" says "symbolic link"
    check "... the link and its target untouched" bash -c "[ -L '$TMP/link.safetensors' ] && cmp -s '$TMP/in.bin' '$TMP/in.orig'"
    mkfifo "$TMP/fifo"
    check "convert-draft --out a FIFO refused" refused "$FRSPEC" convert-draft --in "$TMP/in.bin" --out "$TMP/fifo"
    check "... naming the FIFO" says "a FIFO"
    check "convert-draft --out /dev/null refused" refused "$FRSPEC" convert-draft --in "$TMP/in.bin" --out /dev/null
    check "... naming the device" says "a device"
    check "/dev/null is still a device" [ -c /dev/null ]
    "$FRSPEC" convert-draft --in "$TMP/in.bin" --out "$TMP/ok.safetensors" > /dev/null 2>&1
    check "convert-draft to a new file still works" cmp -s "$TMP/ok.safetensors" "$FIX/frvocab/head16/reference.safetensors"
fi

if want vocab; then # item 10: vocab build on an empty or broken corpus fails clearly
    : > "$TMP/empty.txt"
    check "vocab build: empty corpus refused" \
        refused "$FRSPEC" vocab build --tokenizer "$M" --corpus "$TMP/empty.txt" --top 10 --out "$TMP/v.pt"
    check "... saying there is no text" says "holds no text"
    check "... nothing written" [ ! -e "$TMP/v.pt" ]
    gz=$FIX/frvocab/corpus/humaneval.jsonl.gz
    head -c $(($(stat -c %s "$gz") / 2)) "$gz" > "$TMP/cut.jsonl.gz"
    check "vocab build: truncated .gz refused" \
        refused "$FRSPEC" vocab build --tokenizer "$M" --corpus "$TMP/cut.jsonl.gz" --top 10 --out "$TMP/v.pt"
    check "... naming the file and the truncation" says "cut.jsonl.gz: the gzip stream is truncated or corrupt"
    cp "$FIX/frvocab/corpus/mtbench.txt" "$TMP/fake.txt.gz"
    check "vocab build: a .gz that is not gzip refused" \
        refused "$FRSPEC" vocab build --tokenizer "$M" --corpus "$TMP/fake.txt.gz" --top 10 --out "$TMP/v.pt"
    check "... saying so" says "fake.txt.gz: not a gzip file"
    python3 - "$gz" "$TMP/bad.jsonl.gz" <<'PY' 2> /dev/null || cp "$gz" "$TMP/bad.jsonl.gz"
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[len(b) // 2] ^= 0xff  # one flipped byte in the deflate data
open(sys.argv[2], 'wb').write(bytes(b))
PY
    check "vocab build: a corrupt .gz refused" \
        refused "$FRSPEC" vocab build --tokenizer "$M" --corpus "$TMP/bad.jsonl.gz" --top 10 --out "$TMP/v.pt"
    check "vocab build: a good corpus still works" \
        "$FRSPEC" vocab build --tokenizer "$M" --corpus "$FIX/frvocab/corpus/mtbench.txt" "$gz" --top 10 --out "$TMP/good.pt"
fi

if want generate; then # the small things of `frspec generate`
    GEN=("$FRSPEC" generate --model "$M") # a later --model wins
    gen() { "${GEN[@]}" "$@"; }
    for d in "--no-draft" "--draft $D"; do
        gen $d --prompt "hello" --max-new-tokens 0 --json --quiet > "$TMP/zero.json" 2> /dev/null
        check "--max-new-tokens 0 ($d): no negative tokens/s, iterations 0" \
            bash -c "grep -q '\"tokens_per_s\":0' '$TMP/zero.json' && grep -q '\"iterations\":0' '$TMP/zero.json' && ! grep -q ':-' '$TMP/zero.json'"
    done
    check "--max-ctx past max_position_embeddings refused" refused "${GEN[@]}" --prompt hi --max-ctx 300
    check "... naming max_position_embeddings and the limit" says "max_position_embeddings 256"
    # a config with fewer layers than the checkpoint: a warning naming the unused layers
    mkdir -p "$TMP/fewer"
    for f in "$M"/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$TMP/fewer/"; done
    rm "$TMP/fewer/config.json"
    n=$(grep -o '"num_hidden_layers": *[0-9]*' "$M/config.json" | grep -o '[0-9]*$')
    sed "s/\"num_hidden_layers\": *[0-9]*/\"num_hidden_layers\": $((n - 1))/" "$M/config.json" > "$TMP/fewer/config.json"
    "$FRSPEC" generate --model "$TMP/fewer" --prompt hi --max-new-tokens 2 --quiet > /dev/null 2> "$TMP/err"
    check "a config with fewer layers than the checkpoint warns" says "warning: .*num_hidden_layers $((n - 1)) but the checkpoint holds $n layers"
    # tree options checked with the other options (before loading), naming the option
    check "--tree-depth past the backends' limit refused" refused "${GEN[@]}" --model /nonexistent --prompt hi --tree-depth 20
    check "... before loading, naming --tree-depth" bash -c "grep -q -- '--tree-depth' '$TMP/err' && ! grep -q nonexistent '$TMP/err'"
    check "--tree-topk past the backends' limit refused" refused "${GEN[@]}" --model /nonexistent --prompt hi --tree-topk 40
    check "... naming --tree-topk" says "--tree-topk"
    check "--tree-topk above --fr-vocab-size refused" \
        refused "${GEN[@]}" --model /nonexistent --draft "$D" --fr-vocab /dev/null --fr-vocab-size 8 --tree-topk 16 --prompt hi
    check "... naming both options" bash -c "grep -q -- '--tree-topk 16 is larger than --fr-vocab-size 8' '$TMP/err'"
    printf '5\n6\n7\n8\n' > "$TMP/fr4.txt"
    check "an FR list shorter than the tree's top-k refused" refused "${GEN[@]}" --draft "$D" --fr-vocab "$TMP/fr4.txt" --prompt hi
    check "... naming --tree-topk, not an internal function" bash -c "grep -q -- '--tree-topk 10 is larger than the draft vocabulary' '$TMP/err' && ! grep -q draft_tree '$TMP/err'"
    check "--tree-size not below --max-ctx refused" refused "${GEN[@]}" --draft "$D" --tree-size 40 --max-ctx 40 --prompt hi
    check "... naming both options" says "--tree-size 40 must be below --max-ctx 40"
    check "--out with a single --prompt refused" refused "${GEN[@]}" --prompt hi --out "$TMP/o.jsonl"
    check "... saying --out is for --prompts" says "--out is for batch jobs"
    printf '{"prompt":"x"}\n' > "$TMP/p.jsonl"
    check "--resume without --out refused" refused "${GEN[@]}" --prompts "$TMP/p.jsonl" --resume
    check "... saying it needs --out" says "--resume needs --out"
    check "an out-of-vocabulary --stop-token refused" refused "${GEN[@]}" --prompt hi --stop-token 999999
    check "... naming it and the vocabulary" says "--stop-token 999999 is outside the vocabulary"
    check "a directory as --prompt-file refused" refused "${GEN[@]}" --prompt-file "$TMP"
    check "... saying it is a directory" says "is a directory"
    printf '5\nabc\n' > "$TMP/frbad.txt"
    check "a bad FR text list refused" refused "${GEN[@]}" --draft "$D" --fr-vocab "$TMP/frbad.txt" --prompt hi
    check "... quoting the line without its newline" says "got 'abc'"
fi
if want watchdog; then # item 11 on the CPU: a step watchdog is armed for each engine step
    # test hook FRS_TEST_STALL_STEP=N: the host stops at step N; the job must end within the limit
    t0=$(date +%s)
    FRS_TEST_STALL_STEP=3 timeout 60 "$FRSPEC" generate --model "$M" --prompt hi --max-new-tokens 20 --ignore-eos \
        --watchdog-seconds 2 --quiet > /dev/null 2> "$TMP/err"
    rc=$? t1=$(date +%s)
    check "a stuck step ends the job non-zero" [ $rc -ne 0 -a $rc -ne 124 ]
    check "... within the watchdog's 2 s (+4 s)" [ $((t1 - t0)) -le 6 ]
    check "... naming the rank and the step" says "step 'rank 0, request 'prompt', step 3' did not finish within 2 s"
    FRS_TEST_STALL_STEP=0 timeout 60 "$FRSPEC" generate --model "$M" --prompt hi --max-new-tokens 2 \
        --watchdog-seconds 1 --quiet > /dev/null 2> "$TMP/err"
    check "the prefill (step 0) has ten times the limit" says "prefill (step 0)' did not finish within 10 s"
    if command -v mpirun > /dev/null; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        t0=$(date +%s)
        FRS_TEST_STALL_STEP=4 timeout 90 mpirun -np 2 --oversubscribe --bind-to none -x FRS_TEST_STALL_STEP \
            "$FRSPEC" generate --model "$M" --tp 2 --device cpu --prompt hi --max-new-tokens 20 --ignore-eos \
            --watchdog-seconds 3 --quiet > /dev/null 2> "$TMP/err"
        rc=$? t1=$(date +%s)
        check "TP 2: a stuck step ends the job non-zero within seconds" [ $rc -ne 0 -a $rc -ne 124 -a $((t1 - t0)) -le 20 ]
        check "TP 2: the message names a rank and step 4" says "rank [01], request 'prompt', step 4' did not finish"
    fi
fi
check_summary
