/** The table of subcommands that `main.ts` dispatches on. */
import type { Command } from "./command.ts";
import { devices } from "./devices.ts";
import { download } from "./download.ts";
import { show } from "./show.ts";
import { trainCommand } from "./train.ts";
import { plotCommand } from "./plot.ts";
import { modelsCommand } from "./models.ts";
import { evalCommand } from "./eval.ts";
import { predictCommand } from "./predict.ts";
import { serveCommand } from "./serve.ts";
import { summaryCommand } from "./summary.ts";
import { exportCommand } from "./export.ts";

/**
 * The subcommands, in the order `mnist --help` lists them; `main.ts` finds a command here by its
 * `name` and suggests the nearest one for a mistyped word.
 */
export const COMMANDS: Command[] = [
  download,
  show,
  trainCommand,
  plotCommand,
  modelsCommand,
  evalCommand,
  predictCommand,
  serveCommand,
  summaryCommand,
  exportCommand,
  devices,
];
