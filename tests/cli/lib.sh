# lib.sh - what the tests/cli scripts share (source it after setting set -u): a scratch folder
# $TMP removed at exit, the check counter and check_summary, the closing line ctest reads.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0 checks=0
check() { # check WHAT CONDITION...: runs CONDITION, counts it, prints ok/FAIL with WHAT
    local what=$1
    shift
    checks=$((checks + 1))
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail + 1)); fi
}
check_summary() { # the closing line; the exit status of the script
    echo "$((checks - fail)) passed, $fail failed"
    [ $fail -eq 0 ]
}
