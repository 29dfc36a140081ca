/**
 * The help pages share one layout: every command's `--help` (src/cli/*.ts, through `COMMANDS`)
 * and `mnist --help` (main.ts).
 */
import assert from "node:assert/strict";
import { COMMAND_NAMES, loadCommands } from "../src/cli/commands.ts";
import { runCli } from "./cli_helpers.ts";
import { UserError } from "../src/errors.ts";

/** Every command, its module imported (main.ts imports only the one that runs). */
const COMMANDS = await loadCommands();

/** The widest line a help page may have, in characters (deno fmt's line width). */
const MAX_WIDTH = 100;

/** A section heading: a line of its own, not indented, ending in a colon ("Common options:"). */
const HEADING = /^[A-Z][A-Za-z ]*:$/;

/**
 * What breaks the layout of command `name`'s help, one line per problem (none: it is right):
 * "Usage: mnist NAME" first, its continuation lines indented; a blank line, then a description;
 * the sections `first` ("Options:"; `mnist --help` has "Commands:") first, "Common options:" and
 * "Examples:" last, any other ("Environment:") between them, each after a blank line; their
 * lines indented; no line over `MAX_WIDTH` characters, no trailing spaces or tabs, no two blank
 * lines in a row, no blank line at the end.
 */
function layoutProblems(
  name: string,
  help: string,
  { first = "Options:" }: { first?: string } = {},
): string[] {
  const problems: string[] = [];
  const lines = help.split("\n");
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    if (line.length > MAX_WIDTH) problems.push(`${where} has ${line.length} characters: ${line}`);
    if (/\s$/.test(line)) problems.push(`${where} ends in a space: ${JSON.stringify(line)}`);
    if (line.includes("\t")) problems.push(`${where} has a tab`);
    if (line === "" && lines[i - 1] === "") problems.push(`${where} is a second blank line`);
  });
  if (lines.at(-1) === "") problems.push("it ends with a blank line");
  const usage = `Usage: mnist${name ? ` ${name}` : ""}`;
  if (!lines[0]!.startsWith(usage)) problems.push(`it does not start with "${usage}": ${lines[0]}`);
  // The usage may go on over indented lines, up to the blank line before the description.
  let i = 1;
  while (i < lines.length && lines[i] !== "") {
    if (!lines[i]!.startsWith(" ")) problems.push(`usage line ${i + 1} is not indented`);
    i++;
  }
  const description = lines[i + 1];
  if (description === undefined || description === "" || HEADING.test(description)) {
    problems.push("no description after the usage and a blank line");
  }
  const headings = lines.flatMap((line, k) => (HEADING.test(line) ? [{ line, k }] : []));
  const names = headings.map((h) => h.line);
  const order = names.length >= 3 && names[0] === first &&
    names.at(-2) === "Common options:" && names.at(-1) === "Examples:";
  if (!order) {
    problems.push(
      `its sections are ${names.join(", ") || "none"}, not ${first}, (others), ` +
        `Common options:, Examples:`,
    );
  }
  for (const { line, k } of headings) {
    if (lines[k - 1] !== "") problems.push(`no blank line before "${line}"`);
    const next = lines[k + 1];
    if (next === undefined || !next.startsWith("  ")) {
      problems.push(`"${line}" is not followed by indented lines`);
    }
  }
  // Every line of a section is indented, up to the blank line that ends it.
  for (const { line, k } of headings) {
    for (let j = k + 1; j < lines.length && lines[j] !== "" && !HEADING.test(lines[j]!); j++) {
      if (!lines[j]!.startsWith("  ")) {
        problems.push(`line ${j + 1}, in "${line}", is not indented: ${lines[j]}`);
      }
    }
  }
  return problems;
}

for (const command of COMMANDS) {
  Deno.test(`mnist ${command.name} --help has the shared layout`, () => {
    assert.deepEqual(layoutProblems(command.name, command.help), [], command.help);
  });
}

/**
 * The common options each command takes, those it uses: --device where it runs on the GPU,
 * --data-dir where it reads MNIST or the model store (which older versions kept there).
 */
const TAKES: Record<string, string[]> = {
  download: ["--data-dir"],
  show: ["--data-dir"],
  train: ["--device", "--data-dir"],
  eval: ["--device", "--data-dir"],
  predict: ["--device", "--data-dir"],
  serve: ["--device", "--data-dir"],
  models: ["--data-dir"],
  summary: ["--data-dir"],
  export: ["--data-dir"],
  plot: [],
  devices: ["--device"],
};

for (const command of COMMANDS) {
  Deno.test(`mnist ${command.name} takes and lists only the common options it uses`, async () => {
    // plot --help listed --device and --data-dir, and plot took them and did nothing with them.
    const takes = TAKES[command.name];
    assert.ok(takes, `${command.name} is missing from TAKES`);
    for (const option of ["--device", "--data-dir"]) {
      // Parsing stops at the first unknown option: this one, or the probe after it.
      const error = await command.run([`${option}=x`, "--no-such-option"]).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof UserError, `${command.name} ${option}: ${error}`);
      const refused = error.message.includes(`Unknown option '${option}'`);
      assert.ok(
        refused || error.message.includes("Unknown option '--no-such-option'"),
        error.message,
      );
      assert.equal(!refused, takes.includes(option), `${command.name} ${option}: ${error.message}`);
      const listed = new RegExp(`^  ${option} `, "m").test(command.help);
      assert.equal(listed, takes.includes(option), `${command.name} --help and ${option}`);
    }
  });
}

Deno.test("layoutProblems() finds a missing blank line, a long line and a section out of order", () => {
  const good = [
    "Usage: mnist x [--y]",
    "",
    "Does x.",
    "",
    "Options:",
    "  --y                    why",
    "",
    "Common options:",
    "  -h, --help             show this help",
    "",
    "Examples:",
    "  mnist x",
  ];
  assert.deepEqual(layoutProblems("x", good.join("\n")), []);
  const cramped = good.filter((_, i) => i !== 6).join("\n");
  assert.deepEqual(layoutProblems("x", cramped), [`no blank line before "Common options:"`]);
  const long = good.with(2, "Does x. ".repeat(13).trimEnd()).join("\n");
  assert.match(layoutProblems("x", long).join("\n"), /^line 3 has 103 characters/);
  const swapped = [
    ...good.slice(0, 4),
    ...good.slice(7, 10),
    ...good.slice(4, 7),
    ...good.slice(10),
  ]
    .join("\n");
  assert.match(
    layoutProblems("x", swapped).join("\n"),
    /its sections are Common options:, Options:/,
  );
});

Deno.test("mnist --help lists every command, laid out as the commands' help is", async () => {
  const { code, stdout } = await runCli(["--help"]);
  assert.equal(code, 0);
  assert.deepEqual(layoutProblems("", stdout.trimEnd(), { first: "Commands:" }), [], stdout);
  const lines = stdout.split("\n");
  for (const command of COMMANDS) {
    assert.ok(
      lines.some((line) => line.startsWith(`  ${command.name} `)),
      `${command.name} in:\n${stdout}`,
    );
  }
  // "mnist help NAME" is "mnist NAME --help".
  const help = await runCli(["help", "eval"]);
  assert.equal(help.stdout, `${COMMANDS.find((c) => c.name === "eval")!.help}\n`);
});

Deno.test("every command is found by the name it is called by, in --help's order", () => {
  assert.deepEqual(COMMANDS.map((c) => c.name), [...COMMAND_NAMES]);
});

Deno.test("help pages agree with the commands: serve's answer fields, download's mirror port", () => {
  const help = (name: string) => COMMANDS.find((c) => c.name === name)!.help;
  // POST /api/predict answers these fields (src/serve/server.ts `Prediction`); the help left
  // out class and name, which the README lists.
  const answer = help("serve").match(/answer is JSON: (\{[^}]*\})/)?.[1];
  assert.ok(answer, help("serve"));
  assert.deepEqual(
    [...answer.matchAll(/"(\w+)":/g)].map((m) => m[1]),
    ["digit", "class", "name", "probability", "probabilities", "input"],
  );
  // 8000 is serve's port: a mirror served there would take it (README, "download").
  assert.doesNotMatch(help("download"), /127\.0\.0\.1:8000\b/);
  assert.match(help("serve"), /127\.0\.0\.1:8000\b/);
});
