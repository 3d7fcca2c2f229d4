#!/usr/bin/env bash
# batch.sh - batch jobs with the frspec program: every finished result is written (and flushed)
# as its own JSONL line, --resume skips what is done, a prompt that cannot run gets an error line
# while the batch goes on (non-zero exit at the end), bad input names the file and line.
# usage: batch.sh FRSPEC FIXTURES
set -u
FRSPEC=$1 FIX=$2
M=$FIX/models/gqa-bf16
source "$(dirname "$0")/lib.sh" # TMP, check, check_summary
long=$(printf 'word %.0s' $(seq 1 400))   # far more tokens than the fixture's context (256)
cat > "$TMP/in.jsonl" <<JSONL
{"question_id": 81, "category": "writing", "turns": ["Hello, how are you?", "second turn"]}
{"id": "b", "prompt": "The capital of France is"}

{"task_id": "HumanEval/0", "prompt": "def add(a, b):"}
{"id": "long", "prompt": "$long"}
{"id": "e", "text": "1, 2, 3,"}
JSONL
"$FRSPEC" generate --model "$M" --prompts "$TMP/in.jsonl" --out "$TMP/out.jsonl" --max-new-tokens 8 --quiet 2> "$TMP/err"
rc=$?
check "a batch with a failed prompt exits non-zero" [ $rc -ne 0 ]
check "4 results and 1 error line" [ "$(grep -c '"tokens"' "$TMP/out.jsonl")" = 4 -a "$(grep -c '"error"' "$TMP/out.jsonl")" = 1 ]
check "ids from question_id, id, task_id" grep -q '"id":"81".*"id":"b"' <(tr -d '\n' < "$TMP/out.jsonl")
check "HumanEval id kept" grep -q '"id":"HumanEval/0"' "$TMP/out.jsonl"
check "the long prompt's error names it and the context" grep -q '"id":"long","error":".*prompt .long. has [0-9]* tokens.*context' "$TMP/out.jsonl"
check "the prompt after the failed one ran" grep -q '"id":"e","tokens"' "$TMP/out.jsonl"

# each result equals the same prompt run alone
"$FRSPEC" generate --model "$M" --prompt "The capital of France is" --max-new-tokens 8 --json --quiet > "$TMP/one.json"
check "batch result == single run" [ "$(grep '"id":"b"' "$TMP/out.jsonl" | grep -o '"tokens":\[[^]]*\]')" = "$(grep -o '"tokens":\[[^]]*\]' "$TMP/one.json")" ]

# --resume: finished ids are skipped; a line cut short by a crash is redone
head -n 2 "$TMP/out.jsonl" > "$TMP/part.jsonl"
printf '{"id":"HumanEval/0","tok' >> "$TMP/part.jsonl"   # the crash
"$FRSPEC" generate --model "$M" --prompts "$TMP/in.jsonl" --out "$TMP/part.jsonl" --resume --max-new-tokens 8 --quiet 2> /dev/null
check "--resume ran only what was not finished" [ "$(grep -c '"id":"81"' "$TMP/part.jsonl")" = 1 -a "$(grep -c '"id":"HumanEval/0","tokens"' "$TMP/part.jsonl")" = 1 -a "$(grep -c '"id":"e"' "$TMP/part.jsonl")" = 1 ]

# malformed input: the file and line are named, non-zero exit
printf '{"id": "x", "prompt": "ok"}\n{not json\n' > "$TMP/bad.jsonl"
"$FRSPEC" generate --model "$M" --prompts "$TMP/bad.jsonl" --max-new-tokens 2 --quiet > /dev/null 2> "$TMP/bad.err"
rc=$?
check "malformed JSONL fails" [ $rc -ne 0 ]
check "the error names the file and line 2" grep -q "bad.jsonl: line 2" "$TMP/bad.err"
"$FRSPEC" generate --model "$M" --prompt "x" --max-new-tokens 2 --top-p 2 > /dev/null 2> "$TMP/opt.err"
check "a bad option value is refused naming the option" grep -q -- "--top-p" "$TMP/opt.err"
"$FRSPEC" generate --model "$FIX/nonexistent" --prompt "x" > /dev/null 2> "$TMP/nomodel.err"
check "a missing model directory is named" grep -q "nonexistent/config.json" "$TMP/nomodel.err"
"$FRSPEC" generate --model "$M" --draft "$FIX/models/tied-f32" --prompt "x" > /dev/null 2> "$TMP/baddraft.err"
check "a target given as draft is refused" [ -s "$TMP/baddraft.err" ]
check_summary
