/** The subcommands, in the order `mnist --help` lists them. */
import type { Command } from "./command.ts";
import { devices } from "./devices.ts";

export const COMMANDS: Command[] = [
  devices,
];
