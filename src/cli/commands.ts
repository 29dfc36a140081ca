/**
 * The table of subcommands that `main.ts` dispatches on. A command's module is imported when it
 * runs (or when `mnist --help` lists them all), not at start-up: importing every command's code
 * (the image decoders, the server, ...) cost `mnist train` 16 MB of resident memory (docs/memory.md).
 * What a command is (`Command`) and what the commands share is `command.ts`.
 */
import type { Command } from "./command.ts";

/** Each command's module, by the name it is called by, in the order `mnist --help` lists them. */
const LOADERS: Readonly<Record<string, () => Promise<Command>>> = {
  download: async () => (await import("./download.ts")).downloadCommand,
  show: async () => (await import("./show.ts")).showCommand,
  train: async () => (await import("./train.ts")).trainCommand,
  plot: async () => (await import("./plot.ts")).plotCommand,
  models: async () => (await import("./models.ts")).modelsCommand,
  eval: async () => (await import("./eval.ts")).evalCommand,
  predict: async () => (await import("./predict.ts")).predictCommand,
  serve: async () => (await import("./serve.ts")).serveCommand,
  summary: async () => (await import("./summary.ts")).summaryCommand,
  export: async () => (await import("./export.ts")).exportCommand,
  devices: async () => (await import("./devices.ts")).devicesCommand,
};

/** The command names, in the order `mnist --help` lists them: what `main.ts` dispatches on. */
export const COMMAND_NAMES: readonly string[] = Object.keys(LOADERS);

/** The command called `name`, its module imported now; undefined when there is none. */
export function loadCommand(name: string): Promise<Command> | undefined {
  return Object.hasOwn(LOADERS, name) ? LOADERS[name]!() : undefined;
}

/** Every command, in {@link COMMAND_NAMES}' order, all their modules imported. */
export function loadCommands(): Promise<Command[]> {
  return Promise.all(COMMAND_NAMES.map((name) => LOADERS[name]!()));
}
