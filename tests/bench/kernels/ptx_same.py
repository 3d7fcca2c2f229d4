#!/usr/bin/env python3
"""ptx_same.py - do two revisions of kernels/ compile to the same device code? (workbench tool)

Compiles every kernels/*.cu of two git revisions to PTX (nvcc -ptx, -O3, one architecture),
splits the PTX into functions by name, renames registers and labels in order of first use, and
compares function by function. Identical normalised PTX means the same instructions in the same
order, so the same bits (ptxas is deterministic). For functions that differ it prints the count
of floating-point instructions that differ (0 = only integer / address / control code moved).
Needs nvcc only (no GPU).

usage: python3 tests/bench/kernels/ptx_same.py OLD_REV [NEW_REV (default: the working tree)] [--arch 90]
"""
import collections, glob, os, re, subprocess, sys, tempfile

def export(rev, dst):
    os.makedirs(dst)
    if rev is None:
        root = subprocess.check_output(['git', 'rev-parse', '--show-toplevel'], text=True).strip()
        for d in ('kernels', 'runtime', 'parallel'):
            subprocess.check_call(['cp', '-r', os.path.join(root, d), dst])
    else:
        tar = subprocess.check_output(['git', 'archive', rev, 'kernels', 'runtime', 'parallel'])
        subprocess.run(['tar', '-x', '-C', dst], input=tar, check=True)

def ptx_functions(src, arch, out):
    funcs = {}
    for cu in sorted(glob.glob(os.path.join(src, 'kernels', '*.cu'))):
        p = os.path.join(out, os.path.basename(cu) + '.ptx')
        subprocess.check_call(['nvcc', '-DFRSPEC_HAVE_CUDA=1', '-D_GNU_SOURCE', '-I' + src + '/kernels',
                               '-I' + src + '/runtime', '-I' + src + '/parallel', '-O3', '-DNDEBUG',
                               '-arch=compute_' + arch, '--expt-relaxed-constexpr', '-ptx', '-o', p, cu])
        s = open(p).read()
        for m in re.finditer(r'^(\.visible |\.weak )?(\.entry|\.func)\s+(\([^)]*\)\s*)?([A-Za-z0-9_$]+)', s, re.M):
            end = s.find('\n}\n', m.start())
            funcs[m.group(4)] = s[m.start():end]
    return funcs

def norm(body):
    maps = {}
    def rn(m):
        tok = m.group(0)
        pre = re.match(r'(%[a-z]+|\$L__BB)', tok).group(1)
        d = maps.setdefault(pre, {})
        return d.setdefault(tok, '%s#%d' % (pre, len(d)))
    keep = [l for l in body.split('\n') if l.strip() and not l.strip().startswith(('.loc', '//', '.reg'))]
    return [re.sub(r'(%(r|rd|f|fd|p|rs|hh|h)\d+|\$L__BB\d+_\d+)', rn, l) for l in keep]

def float_ops(lines):
    return collections.Counter(l.split()[0] for l in lines if re.search(r'\.(f32|f64|f16|bf16)', l.split()[0]))

def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    arch = sys.argv[sys.argv.index('--arch') + 1] if '--arch' in sys.argv else '90'
    if '--arch' in sys.argv:
        args.remove(arch)
    if not args:
        sys.exit(__doc__)
    tmp = tempfile.mkdtemp(prefix='ptx_same_')
    export(args[0], os.path.join(tmp, 'old'))
    export(args[1] if len(args) > 1 else None, os.path.join(tmp, 'new'))
    os.makedirs(os.path.join(tmp, 'pold'))
    os.makedirs(os.path.join(tmp, 'pnew'))
    old = ptx_functions(os.path.join(tmp, 'old'), arch, os.path.join(tmp, 'pold'))
    new = ptx_functions(os.path.join(tmp, 'new'), arch, os.path.join(tmp, 'pnew'))
    same = 0
    for k in sorted(set(old) | set(new)):
        if k not in new:
            print('only in old:', k)
        elif k not in old:
            print('only in new:', k)
        elif norm(old[k]) == norm(new[k]):
            same += 1
        else:
            fo, fn = float_ops(norm(old[k])), float_ops(norm(new[k]))
            fd = {o: (fo[o], fn[o]) for o in set(fo) | set(fn) if fo[o] != fn[o]}
            print('differs:', k, '- floating-point instruction counts', 'equal' if not fd else 'DIFFER %s' % fd)
    print('%d functions identical' % same)

if __name__ == '__main__':
    main()
