"""Imports between src/'s folders, for docs/issue15-report.md.

    python3 docs/issue15-report/imports.py <tree>

Every relative `import ... from "./..."` / `export ... from` of a .ts file under <tree>/src whose
target lies in another folder of src/ is an edge. Folders are ranked from low to high (LEVEL):
src/*.ts (errors, fs, random, progress...) 0; gpu, data, image, plot 1; nn 2; train, onnx 3;
serve, cli 4. An edge to a higher rank is UP, to the same rank lateral; both are listed file by
file. Dynamic import() calls are not followed (the report lists them separately).
"""
import os, re, sys, collections
root = sys.argv[1]
LEVEL = {'': 0, 'gpu': 1, 'data': 1, 'image': 1, 'plot': 1, 'nn': 2, 'train': 3, 'onnx': 3, 'serve': 4, 'cli': 4}
def folder(path):
    rel = os.path.relpath(path, os.path.join(root, 'src'))
    parts = rel.split(os.sep)
    return '' if len(parts) == 1 else parts[0]
edges = collections.defaultdict(list)
for dp, dn, fn in os.walk(os.path.join(root, 'src')):
    for f in fn:
        if not f.endswith('.ts'): continue
        p = os.path.join(dp, f)
        text = open(p).read()
        for m in re.finditer(r'^\s*(?:import|export)\s+(type\s+)?[^;]*?from\s+"(\.[^"]+)"', text, re.M):
            target = os.path.normpath(os.path.join(dp, m.group(2)))
            if not target.startswith(os.path.join(root, 'src')): continue
            a, b = folder(p), folder(target)
            if a != b:
                edges[(a, b)].append((os.path.relpath(p, root), os.path.relpath(target, root), bool(m.group(1))))
up = []
for (a, b), lst in sorted(edges.items()):
    la, lb = LEVEL.get(a, 9), LEVEL.get(b, 9)
    kind = 'UP' if lb > la else ('lateral' if lb == la else 'down')
    print(f"{a or 'src'} -> {b or 'src'} [{kind}] {len(lst)}")
    if kind != 'down':
        for s, t, typ in lst: print(f"    {s} -> {t}{' (type only)' if typ else ''}")
