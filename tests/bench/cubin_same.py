#!/usr/bin/env python3
"""cubin_same.py - does a change leave the GPU kernels' machine code as it was? No GPU needed.

Compiles kernels/*.cu (or the files named) of git revision REV and of the working tree to sm_90
cubins with nvcc, and compares every kernel's .text section byte for byte. Kernels only in one of
the two are listed as added / removed. Use it after a refactor of kernel code that must not change
what runs (a shared helper, a renamed template): "identical" proves the GPU-tested code unchanged.

usage (repo root): python3 tests/bench/cubin_same.py REV [file.cu ...]
"""
import os
import struct
import subprocess
import sys
import tempfile


def text_sections(path):
    """{kernel symbol: machine code} of a cubin (ELF64; the .text.<symbol> sections)"""
    b = open(path, 'rb').read()
    shoff = struct.unpack_from('<Q', b, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', b, 0x3A)
    hdr = [struct.unpack_from('<IIQQQQIIQQ', b, shoff + i * shentsize) for i in range(shnum)]
    names_off = hdr[shstrndx][4]
    out = {}
    for h in hdr:
        name = b[names_off + h[0]:b.index(b'\0', names_off + h[0])].decode()
        if name.startswith('.text.'):
            out[name[6:]] = b[h[4]:h[4] + h[5]]
    return out


def cubin(root, f, out):
    inc = [f'-I{root}/{d}' for d in ('runtime', 'kernels', 'parallel')]
    r = subprocess.run(['nvcc', '-arch=sm_90', '-O3', '-std=c++17', *inc, '-cubin', '-o', out, f'{root}/kernels/{f}'],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f'cubin_same: nvcc failed on {root}/kernels/{f}:\n{r.stderr[:2000]}')
    return text_sections(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rev, files = sys.argv[1], [os.path.basename(f) for f in sys.argv[2:]]
    if not files:
        files = sorted(f for f in os.listdir('kernels') if f.endswith('.cu'))
    changed = 0
    with tempfile.TemporaryDirectory() as tmp:
        old_root = os.path.join(tmp, 'old')
        os.mkdir(old_root)
        arch = subprocess.run(['git', 'archive', rev], capture_output=True, check=True).stdout
        subprocess.run(['tar', '-x', '-C', old_root], input=arch, check=True)
        for f in files:
            if not os.path.exists(f'{old_root}/kernels/{f}'):
                print(f'{f}: new file')
                continue
            old = cubin(old_root, f, f'{tmp}/old.cubin')
            new = cubin('.', f, f'{tmp}/new.cubin')
            same = [k for k in new if old.get(k) == new[k]]
            print(f'{f}: {len(same)} of {len(new)} kernels identical')
            for k in sorted(set(old) | set(new)):
                if k not in new:
                    print(f'  removed {k}')
                elif k not in old:
                    print(f'  added   {k}')
                elif old[k] != new[k]:
                    changed += 1
                    print(f'  CHANGED {k} ({len(old[k])} -> {len(new[k])} bytes)')
    sys.exit(1 if changed else 0)


if __name__ == '__main__':
    main()
