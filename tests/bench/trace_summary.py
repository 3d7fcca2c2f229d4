# trace_summary.py - summarize FRS_BATCH_TRACE files (the batch engine's per-step trace): per policy
# arm, drafting or not and batch-size bucket (n in [2^b, 2^(b+1))): steps, mean sequences, tokens per
# step, mean plan / draft / verify / prefill ms per step and the decode tokens/s of those steps.
# usage: python3 tests/bench/trace_summary.py TRACE...
import sys, re, collections
for path in sys.argv[1:]:
    steps = {}
    for l in open(path):
        if not l.startswith('step '):
            if l.strip():
                print(l.strip())
            continue
        f = l.split()
        d = {f[i]: f[i+1] for i in range(0, len(f)-1, 2)}
        st = int(d['step'])
        steps.setdefault(st, {}).update(d)
    agg = collections.defaultdict(lambda: [0,0,0.0,0.0,0.0,0.0,0.0])
    tot_pre = 0.0
    for st, d in steps.items():
        if 'prefill_ms' in d: tot_pre += float(d['prefill_ms'])
        if 'n' not in d: continue
        n = int(d['n']); b = n.bit_length()-1
        k = (int(d['arm']), int(d['drafting'] != '0'), b)
        a = agg[k]; a[0] += 1; a[1] += n; a[2] += float(d['tokens'])
        a[3] += float(d['plan_ms']); a[4] += float(d['draft_ms']); a[5] += float(d['verify_ms'])
        a[6] += float(d.get('prefill_ms', 0))
    print(path, 'steps', len(steps), 'prefill ms total %.1f' % tot_pre)
    print(' arm spec bucket  steps  mean_n  tok/step  plan  draft  verify  prefill(ms/step)  decode tok/s')
    for k in sorted(agg):
        a = agg[k]; c = a[0]
        t = (a[3]+a[4]+a[5])/c
        print(' %3d %4d %6d %6d %7.1f %8.2f %6.3f %6.3f %7.3f %7.3f %10.0f' % (k[0], k[1], k[2], c, a[1]/c, a[2]/c, a[3]/c, a[4]/c, a[5]/c, a[6]/c, a[2]/c/(t/1e3) if t>0 else 0))
