/**
 * The longest functions of a source tree, for docs/issue15-report.md: every outermost
 * function-like node with a body (function, method, constructor, accessor, arrow or function
 * expression not inside another function) in the `.ts` files of `<tree>/src`, `<tree>/main.ts`
 * and `<tree>/kernels`, measured in lines from its first line (after its JSDoc) to its last,
 * both included, by TypeScript's own parser.
 *
 *     deno run -A docs/issue15-report/fnlen.ts <tree> [how many]
 *
 * `<tree>` is an extracted commit: `git archive <commit> src kernels main.ts | tar -x -C <tree>`.
 * @module
 */
// A measuring tool kept beside the report, not a dependency of the project.
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@5.6.3";

interface Row {
  file: string;
  name: string;
  lines: number;
  start: number;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...walk(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

function isFunction(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) || ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node);
}

/** A function's name: its own, its variable's or property's, `Class.` before a method's. */
function nameOf(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  let name = ts.isConstructorDeclaration(node) ? "constructor" : node.name?.getText(sf) ?? "";
  const parent = node.parent;
  if (!name && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) {
    name = parent.name.getText(sf);
  }
  const cls = ts.isClassDeclaration(parent) ? parent.name?.getText(sf) : undefined;
  return (cls ? `${cls}.` : "") + (name || "(anonymous)");
}

const root = Deno.args[0]!;
const rows: Row[] = [];
for (const file of [...walk(`${root}/src`), `${root}/main.ts`, ...walk(`${root}/kernels`)]) {
  const sf = ts.createSourceFile(file, Deno.readTextFileSync(file), ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node, inside: boolean) => {
    const counted = isFunction(node) && node.body !== undefined;
    if (counted && !inside) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      rows.push({
        file: file.slice(root.length + 1),
        name: nameOf(node, sf),
        lines: end - start + 1,
        start,
      });
    }
    ts.forEachChild(node, (child) => visit(child, inside || counted));
  };
  visit(sf, false);
}
rows.sort((a, b) => b.lines - a.lines);
for (const r of rows.slice(0, Number(Deno.args[1] ?? 10))) {
  console.log(`${r.lines}\t${r.file}:${r.start}\t${r.name}`);
}
const over = (n: number) => rows.filter((r) => r.lines > n).length;
console.log(`functions: ${rows.length}; over 60 lines: ${over(60)}; over 100: ${over(100)}`);
