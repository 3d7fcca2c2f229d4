#!/usr/bin/env bash
# batch_jobs.sh - unattended batch jobs (issue 12, items 1-7): exact ids and duplicate ids, a torn
# last line after a full disk, --out equal to --prompts, bad lines as failed prompts, --resume
# retrying failures, resuming 100k finished ids, the progress line and --quiet; and (item 8)
# speculative == autoregressive output at the context limit through the program.
# usage: batch_jobs.sh FRSPEC FIXTURES [ITEM]   (ITEM: run only that item's checks)
set -u
FRSPEC=$1 FIX=$2 ONLY=${3:-}
M=$FIX/models/gqa-bf16
source "$(dirname "$0")/lib.sh" # TMP, check, check_summary
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
gen() { "$FRSPEC" generate --model "$M" --max-new-tokens 4 "$@"; }
lines_with() { grep -c -- "$1" "$2"; }
# no line of a results file holds two results glued together, and every line is closed
well_formed() { ! grep -q '{"id".*{"id"' "$1" && ! grep -qv '}$' "$1" && [ -z "$(tail -c 1 "$1")" ]; }

if want ids; then # item 1: ids kept exactly, duplicates refused before any work
    long=$(printf 'x%.0s' $(seq 1 300))
    cat > "$TMP/ids.jsonl" <<JSONL
{"id": 1.2, "prompt": "a"}
{"id": 1.4, "prompt": "b"}
{"id": 1.20, "prompt": "c"}
{"id": "$long", "prompt": "d"}
{"prompt": "e"}
{"id": null, "prompt": "f"}
JSONL
    gen --prompts "$TMP/ids.jsonl" --out "$TMP/ids.out" --quiet 2> "$TMP/ids.err"
    check "float ids kept as written: 1.2, 1.4 and 1.20 are three ids" \
        [ "$(grep -c '"id":"1.2","tokens"' "$TMP/ids.out")" = 1 -a "$(grep -c '"id":"1.4","tokens"' "$TMP/ids.out")" = 1 \
          -a "$(grep -c '"id":"1.20","tokens"' "$TMP/ids.out")" = 1 ]
    check "a 300-character id kept whole" grep -q "\"id\":\"$long\",\"tokens\"" "$TMP/ids.out"
    check "a prompt without an id gets its line number" grep -q '"id":"5","tokens"' "$TMP/ids.out"
    check "a null id is an error line naming the line, not the line number as id" \
        grep -q '"error":".*line 6.*id.*must be a string or a number","line":6' "$TMP/ids.out"
    # duplicates: refused before any work, naming both lines
    { for i in $(seq 0 19); do printf '{"id":"d%02d","prompt":"p%d"}\n' $i $i; done
      for i in $(seq 0 19); do printf '{"id":"d%02d","prompt":"q%d"}\n' $i $i; done; } > "$TMP/dup.jsonl"
    gen --prompts "$TMP/dup.jsonl" --out "$TMP/dup.out" --quiet 2> "$TMP/dup.err"
    rc=$?
    check "duplicate ids: non-zero exit" [ $rc -ne 0 ]
    check "duplicate ids: the message names both lines" grep -q "lines 1 and 21 have the same id 'd00'" "$TMP/dup.err"
    check "duplicate ids: no work done" [ ! -s "$TMP/dup.out" ]
    printf '{"id": "7", "prompt": "a"}\n{"id": 7, "prompt": "b"}\n' > "$TMP/dup2.jsonl"
    gen --prompts "$TMP/dup2.jsonl" --quiet > /dev/null 2> "$TMP/dup2.err"
    check "the string \"7\" and the number 7 are the same id in the results: refused" grep -q "lines 1 and 2" "$TMP/dup2.err"
fi

if want torn; then # item 2: a full disk mid-line leaves no torn line; --resume never glues
    big=$(printf 'word %.0s' $(seq 1 60))
    for i in $(seq 1 6); do printf '{"id":"t%d","prompt":"%s %d"}\n' $i "$big" $i; done > "$TMP/torn.jsonl"
    # a file-size limit a little past two results: the third line's write is cut short (EFBIG)
    gen --prompts "$TMP/torn.jsonl" --out "$TMP/full.out" --max-new-tokens 40 --quiet 2> /dev/null
    one=$(head -n 1 "$TMP/full.out" | wc -c)
    rm -f "$TMP/full.out"
    (ulimit -f $(((one * 5 / 2) / 1024 + 1)); exec "$FRSPEC" generate --model "$M" --prompts "$TMP/torn.jsonl" \
        --out "$TMP/full.out" --max-new-tokens 40 --quiet) 2> "$TMP/full.err"
    rc=$?
    check "a full disk ends the batch non-zero" [ $rc -ne 0 ]
    check "a full disk leaves no partial line" well_formed "$TMP/full.out"
    gen --prompts "$TMP/torn.jsonl" --out "$TMP/full.out" --max-new-tokens 40 --resume --quiet 2> /dev/null
    check "after --resume: well formed, one line per id" \
        bash -c "[ \$(wc -l < '$TMP/full.out') = 6 ] && [ \$(grep -o '\"id\":\"t[0-9]\"' '$TMP/full.out' | sort -u | wc -l) = 6 ]"
    check "after --resume: no glued line" well_formed "$TMP/full.out"
    # a torn last line left by a crash (kill between writes) is cut before appending
    head -n 2 "$TMP/full.out" > "$TMP/crash.out"
    head -n 3 "$TMP/full.out" | tail -n 1 | head -c 20000 | head -c -7 >> "$TMP/crash.out"
    gen --prompts "$TMP/torn.jsonl" --out "$TMP/crash.out" --max-new-tokens 40 --resume --quiet 2> "$TMP/crash.err"
    check "a crash's torn line is cut: one line per id, none glued" \
        bash -c "[ \$(wc -l < '$TMP/crash.out') = 6 ] && ! grep -q '{\"id\".*{\"id\"' '$TMP/crash.out'"
    check "the cut is reported" grep -q "partial last line" "$TMP/crash.err"
fi

if want same; then # item 3: --out must not be the input, also through a link
    printf '{"id":"a","prompt":"x"}\n' > "$TMP/same.jsonl"
    cp "$TMP/same.jsonl" "$TMP/same.orig"
    ln -s "$TMP/same.jsonl" "$TMP/sym.jsonl"
    ln "$TMP/same.jsonl" "$TMP/hard.jsonl"
    for out in same sym hard; do
        timeout 20 "$FRSPEC" generate --model "$M" --max-new-tokens 2 --quiet --prompts "$TMP/same.jsonl" \
            --out "$TMP/$out.jsonl" 2> "$TMP/same.err"
        rc=$?
        check "--out $out == --prompts refused" [ $rc -ne 0 -a $rc -ne 124 ]
        check "--out $out: the message says why" grep -q "is the --prompts file" "$TMP/same.err"
        check "--out $out: the input is untouched" cmp -s "$TMP/same.jsonl" "$TMP/same.orig"
    done
fi

if want badline; then # item 4: a bad line is one failed prompt
    printf '{"id":"a","prompt":"one"}\n{not json\n[1,2]\n{"id":"c","nothing":1}\n{"id":"d","prompt":"two"}\n' > "$TMP/bad.jsonl"
    gen --prompts "$TMP/bad.jsonl" --out "$TMP/bad.out" --quiet 2> "$TMP/bad.err"
    rc=$?
    check "bad lines: non-zero exit" [ $rc -ne 0 ]
    check "bad lines: the prompts around them ran" \
        [ "$(grep -c '"id":"a","tokens"' "$TMP/bad.out")" = 1 -a "$(grep -c '"id":"d","tokens"' "$TMP/bad.out")" = 1 ]
    check "bad lines: an error line each, with its line number" \
        [ "$(grep -c '"line":2}' "$TMP/bad.out")" = 1 -a "$(grep -c '"line":3}' "$TMP/bad.out")" = 1 \
          -a "$(grep -c '"id":"c","error":".*no string field .prompt.*"line":4}' "$TMP/bad.out")" = 1 ]
    check "bad lines: the exit message counts them" grep -q "3 prompt(s) failed" "$TMP/bad.err"
    if command -v mpirun > /dev/null; then # and the whole job goes on at TP 2
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun -np 2 --oversubscribe --bind-to none \
            "$FRSPEC" generate --model "$M" --tp 2 --device cpu --max-new-tokens 4 --prompts "$TMP/bad.jsonl" \
            --out "$TMP/bad2.out" --quiet 2> /dev/null
        rc=$?
        check "bad lines at TP 2: exit 1, the same results as TP 1" \
            [ $rc -eq 1 -a "$(grep -o '"tokens":\[[^]]*\]' "$TMP/bad2.out")" = "$(grep -o '"tokens":\[[^]]*\]' "$TMP/bad.out")" \
              -a "$(grep -c '"error"' "$TMP/bad2.out")" = 3 ]
    fi
fi

if want retry; then # item 5: --resume retries failures; one line per id at the end
    words=$(printf 'word %.0s' $(seq 1 40))
    printf '{"id":"s","prompt":"short"}\n{"id":"l","prompt":"%s"}\n{"id":"t","prompt":"tail"}\n' "$words" > "$TMP/r.jsonl"
    gen --prompts "$TMP/r.jsonl" --out "$TMP/r.out" --max-ctx 24 --quiet 2> /dev/null
    check "a too-long prompt fails at --max-ctx 24" grep -q '"id":"l","error"' "$TMP/r.out"
    gen --prompts "$TMP/r.jsonl" --out "$TMP/r.out" --max-ctx 128 --resume --quiet 2> /dev/null
    rc=$?
    check "--resume with a larger --max-ctx succeeds" [ $rc -eq 0 ]
    check "the retried result replaced the error line: one line per id" \
        [ "$(wc -l < "$TMP/r.out")" = 3 -a "$(grep -c '"error"' "$TMP/r.out")" = 0 -a "$(grep -c '"id":"l","tokens"' "$TMP/r.out")" = 1 ]
    gen --prompts "$TMP/r.jsonl" --out "$TMP/r2.out" --max-ctx 128 --quiet 2> /dev/null
    check "the retried result == a fresh run's" \
        [ "$(grep '"id":"l"' "$TMP/r.out" | grep -o '"tokens":\[[^]]*\]')" = "$(grep '"id":"l"' "$TMP/r2.out" | grep -o '"tokens":\[[^]]*\]')" ]
fi

if want scale; then # item 6: skipping finished ids is linear (100k in well under a second, release)
    # resume over N finished ids, minus a run with none (the model load): 100k must cost at most
    # 10x what 25k costs (linear: 4x; the quadratic skip of before: 16x), + 1 s of noise. The
    # margin is wide because CI runs this under ASan beside other tests: 7.6x was seen there
    # (25k 2.9 s, 100k 22.4 s) while a release build alone gives about 4x
    resume_ms() { # resume_ms N: ms of a --resume run over N finished ids and one prompt to run
        awk -v n=$1 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":\"q%06d\",\"prompt\":\"p\"}\n", i }' > "$TMP/big.jsonl"
        awk -v n=$1 'BEGIN { for (i = 0; i < n; i++) printf "{\"id\":\"q%06d\",\"tokens\":[1],\"n_tokens\":1}\n", i }' > "$TMP/big.out"
        printf '{"id":"last","prompt":"p"}\n' >> "$TMP/big.jsonl"
        local t0 t1
        t0=$(date +%s%N)
        gen --prompts "$TMP/big.jsonl" --out "$TMP/big.out" --resume --quiet 2> /dev/null
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000))
    }
    min_ms() { # min_ms N RUNS: the fastest of RUNS runs (timings on a shared machine are noisy)
        local best=999999999 t
        for _ in $(seq 1 $2); do t=$(resume_ms $1); [ $t -lt $best ] && best=$t; done
        echo $best
    }
    base=$(min_ms 0 3) q=$(min_ms 25000 2) full=$(min_ms 100000 2)
    echo "resume: 0 finished ids $base ms, 25k $q ms, 100k $full ms (model load included, best of 2-3)"
    check "resume over 100k finished ids is linear (<= 10x 25k's time + 1 s, load excluded)" \
        [ $((full - base)) -le $((10 * (q - base) + 1000)) ]
    check "only the unfinished prompt ran" [ "$(wc -l < "$TMP/big.out")" = 100001 -a "$(tail -n 1 "$TMP/big.out" | grep -c '"id":"last"')" = 1 ]
fi

if want progress; then # item 7: progress on stderr; --quiet silent
    printf '{"id":"a","prompt":"one"}\n{"id":"b","prompt":"two"}\n{"id":"c","nothing":1}\n' > "$TMP/p.jsonl"
    gen --prompts "$TMP/p.jsonl" --out "$TMP/p.out" 2> "$TMP/p.err"
    check "progress: done/total, failed, tokens/s, time left" \
        grep -q "progress 3/3 prompts, 1 failed, [0-9.]* tokens/s, [0-9hms]* left" "$TMP/p.err"
    rm -f "$TMP/p.out"
    gen --prompts "$TMP/p.jsonl" --out "$TMP/p.out" --quiet 2> "$TMP/pq.err"
    check "--quiet: no progress" bash -c "! grep -q progress '$TMP/pq.err'"
    gen --prompts "$TMP/p.jsonl" --out "$TMP/p.out" --resume 2> "$TMP/pr.err"
    check "progress after --resume counts what was done before" grep -q "progress 1/1 prompts (2 done before), 1 failed" "$TMP/pr.err"
fi
if want ctx; then # item 8: at the context limit speculative == autoregressive; no refusal for the draft
    ids=$(seq -s, 100 301) # 202 tokens, as in the issue
    tokens() { grep -o '"tokens":\[[^]]*\]' "$1"; }
    for mc in 203 204 210 232 233 256; do
        gen --prompt-ids "$ids" --max-ctx $mc --max-new-tokens 200 --ignore-eos --json --quiet --no-draft > "$TMP/ar.json" 2> "$TMP/ar.err"
        gen --prompt-ids "$ids" --max-ctx $mc --max-new-tokens 200 --ignore-eos --json --quiet \
            --draft "$FIX/spec/head-gqa" > "$TMP/sp.json" 2> "$TMP/sp.err"
        rc=$?
        check "--max-ctx $mc: a 202-token prompt runs with a draft" [ $rc -eq 0 ]
        check "--max-ctx $mc: $((mc - 202 + 1)) tokens, speculative == autoregressive" \
            bash -c "[ -n \"\$(grep -o '\"n_tokens\":$((mc - 202 + 1)),' '$TMP/ar.json')\" ] && [ \"\$(grep -o '\"tokens\":\[[^]]*\]' '$TMP/ar.json')\" = \"\$(grep -o '\"tokens\":\[[^]]*\]' '$TMP/sp.json')\" ]"
    done
fi
check_summary
