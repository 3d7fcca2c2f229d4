#!/usr/bin/env bash
# layout.sh - the folder layering the README's "Layout" section states, checked on the sources:
# runtime/ includes no header of parallel/, kernels/ or launch/; parallel/ none of kernels/ or
# launch/; kernels/ not the CPU reference's cpu_ops.h; launch/ includes no backend header,
# declares no backend ops and has at most one FRSPEC_HAVE_CUDA conditional; the FRS_* switches
# are read (getenv) nowhere in runtime/, parallel/ or kernels/ (launch/options.c reads them).
# usage: layout.sh SOURCE_DIR
set -u
cd "$1" || exit 2
fail=0
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=$((fail + 1)); fi; }
# headers that live only in the given folders (a name also in runtime/ is runtime's: forwards)
only_in() { for d in "$@"; do ls "$d"/*.h "$d"/*.cuh 2>/dev/null; done | xargs -n1 basename | sort -u |
            comm -23 - <(ls runtime/*.h | xargs -n1 basename | sort -u); }
includes_of() { grep -hoE '^\s*#\s*include\s+"[^"]+"' "$@" | sed -E 's/.*"([^"]+)".*/\1/' | xargs -n1 basename | sort -u; }
none_of() { # none_of "LIST" FILES...: no file includes a header of LIST
    local bad
    bad=$(comm -12 <(echo "$1" | sort -u) <(includes_of "${@:2}"))
    [ -z "$bad" ] || { echo "  includes: $bad"; return 1; }
}
check "runtime/ includes nothing of parallel/, kernels/, launch/" none_of "$(only_in parallel kernels launch)" runtime/*.c runtime/*.h
check "parallel/ includes nothing of kernels/, launch/" none_of "$(only_in kernels launch)" parallel/*.c parallel/*.h
check "kernels/ takes shared constants from neutral headers, not the CPU reference's cpu_ops.h" \
    none_of "cpu_ops.h" kernels/*.c kernels/*.h $(ls kernels/*.cu kernels/*.cuh 2>/dev/null)
check "launch/ includes no backend header" none_of "$(printf '%s\n' cpu_backend.h cpu_spec.h cuda_backend.h nccl_comm.h)" launch/*.c launch/*.h
check "launch/ declares no backend ops" bash -c '! grep -n "extern const struct frs_backend_ops" launch/*.c launch/*.h'
n=$(grep -cE '^\s*#\s*(ifdef|ifndef|if)\b.*FRSPEC_HAVE_CUDA' launch/*.c launch/*.h | awk -F: '{s += $2} END {print s + 0}')
check "launch/ has at most one FRSPEC_HAVE_CUDA conditional (has $n)" [ "$n" -le 1 ]
check "no FRS_* getenv in runtime/, parallel/, kernels/" bash -c '! grep -nE "getenv\(\"FRS_" runtime/*.c runtime/*.h parallel/*.c parallel/*.h kernels/*.c kernels/*.h kernels/*.cu'
check "launch/options.c reads the FRS_* switches" grep -q '"FRS_CUDA_GRAPHS"' launch/options.c
[ $fail -eq 0 ] && echo "layout: all checks passed"
exit $((fail > 0))
