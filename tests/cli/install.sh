#!/usr/bin/env bash
# install.sh - `cmake --install` into a temporary prefix: the installed frspec finds the default
# model pair under <prefix>/share/frspec/default from its own location (not the source tree),
# runs it on the CPU, and generates the same tokens as the program in the build directory.
# usage: install.sh CMAKE BUILD_DIR FRSPEC_IN_BUILD_DIR
set -u
CMAKE=$1 BUILD=$2 FRSPEC=$3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail + 1)); fi; }

"$CMAKE" --install "$BUILD" --prefix "$TMP/prefix" > "$TMP/install.log" 2>&1
check "cmake --install succeeds" [ $? -eq 0 ]
BIN="$TMP/prefix/bin/frspec"
check "frspec installed" [ -x "$BIN" ]
check "default target installed" [ -f "$TMP/prefix/share/frspec/default/target/config.json" ]
check "default draft installed" [ -f "$TMP/prefix/share/frspec/default/draft/config.json" ]
check "default FR list installed" [ -f "$TMP/prefix/share/frspec/default/fr/freq_8192.pt" ]

# run from elsewhere, so nothing relative to the working directory can help
P="The capital of France is"
(cd "$TMP" && "$BIN" generate --device cpu --prompt "$P" --max-new-tokens 4 --json > "$TMP/inst.json" 2> "$TMP/inst.err")
check "the installed frspec runs on the default pair" [ $? -eq 0 ]
# the configuration table (stderr without --json) names what was loaded
(cd "$TMP" && "$BIN" generate --device cpu --prompt "$P" --max-new-tokens 1 > /dev/null 2> "$TMP/table.err")
D=$(cd "$TMP/prefix/share/frspec/default" && pwd -P)
check "it loaded the installed target" grep -q "model  *$D/target\$" "$TMP/table.err"
check "it loaded the installed draft (speculative)" grep -q "draft  *$D/draft\$" "$TMP/table.err"
check "it loaded the installed FR list" grep -q "draft vocabulary  *$D/fr/freq_8192.pt" "$TMP/table.err"
"$FRSPEC" generate --device cpu --prompt "$P" --max-new-tokens 4 --json > "$TMP/build.json" 2> /dev/null
tok() { grep -o '"tokens":\[[^]]*\]' "$1"; }
check "4 tokens generated" [ "$(tok "$TMP/inst.json" | tr ',' '\n' | wc -l)" = 4 ]
check "same tokens as the build directory's frspec" [ "$(tok "$TMP/inst.json")" = "$(tok "$TMP/build.json")" ]
[ $fail -eq 0 ] || { cat "$TMP/install.log" "$TMP/inst.err"; exit 1; }
echo "all install checks passed"
