# Device runs only: keep the npm packages that training, eval and the kernel tests need, so the
# DENO_DIR that travels stays small; Deno installs every package its lockfile names.
import json
KEEP = {"fast-png", "jpeg-js", "cli-progress"}
cfg = json.load(open("deno.json"))
cfg["imports"] = {k: v for k, v in cfg["imports"].items() if k in KEEP}
json.dump(cfg, open("deno.json", "w"), indent=2)
lock = json.load(open("deno.lock"))
name = lambda key: key.rsplit("@", 1)[0]
roots = [s for s in lock["specifiers"] if name(s[4:]) in KEEP]
lock["specifiers"] = {s: lock["specifiers"][s] for s in roots}
seen, todo = set(), [f"{name(s[4:])}@{lock['specifiers'][s]}" for s in roots]
while todo:
    k = todo.pop()
    if k in seen: continue
    seen.add(k)
    for d in lock["npm"][k].get("dependencies", []):
        todo.append(d if d in lock["npm"] else next(x for x in lock["npm"] if x.startswith(d + "@") or x == d))
lock["npm"] = {k: v for k, v in lock["npm"].items() if k in seen}
lock["workspace"]["dependencies"] = [d for d in lock["workspace"]["dependencies"] if name(d[4:]) in KEEP]
json.dump(lock, open("deno.lock", "w"), indent=2)
print("kept", sorted(seen))
