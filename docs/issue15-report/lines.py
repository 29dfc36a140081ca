"""Files and lines (newline count) of src/ and kernels/ in two trees, for docs/issue15-report.md.

    python3 docs/issue15-report/lines.py <before tree> <after tree>

Prints a summary by folder and extension, then one row per file (binary files marked).
"""
import os, sys
def files(root):
    out = {}
    for top in ('src', 'kernels'):
        for dp, dn, fn in os.walk(os.path.join(root, top)):
            for f in fn:
                p = os.path.join(dp, f)
                rel = os.path.relpath(p, root)
                try: n = open(p, encoding='utf-8').read().count('\n')
                except UnicodeDecodeError: n = None
                out[rel] = n
    return out
b, a = files(sys.argv[1]), files(sys.argv[2])
def summary(d, top, ext):
    sel = {k: v for k, v in d.items() if k.startswith(top + '/') and k.endswith(ext)}
    return len(sel), sum(v for v in sel.values() if v)
for top, exts in (('src', ('.ts',)), ('kernels', ('.wgsl', '.ts'))):
    for ext in exts:
        nb, lb = summary(b, top, ext); na, la = summary(a, top, ext)
        print(f"| {top}/ *{ext} | {nb} files, {lb} lines | {na} files, {la} lines |")
print()
print("| file | 991319c | now |")
print("|---|---:|---:|")
for k in sorted(set(b) | set(a)):
    f = lambda d: '—' if k not in d else ('binary' if d[k] is None else str(d[k]))
    print(f"| {k} | {f(b)} | {f(a)} |")
