/** `mnist devices`: the WebGPU adapters this machine offers. */
import { choiceOption, parseCommandArgs } from "./args.ts";
import { type Command, commonHelp } from "./command.ts";
import { DEVICE_CHOICES, listAdapters, requestAdapter } from "../gpu/device.ts";

const HELP = `Usage: mnist devices [--json] [--device auto|gpu|cpu]

Lists the WebGPU adapters: name, vendor (by name, with its PCI or Khronos vendor id), whether
it is a software (CPU/fallback) adapter, its subgroup (SIMD) width, and the limits and features
that matter for training. Exits with status 2 when there is none.

Options:
  --json                 print the adapters as JSON

${commonHelp(["device"])}

Examples:
  mnist devices
  mnist devices --device cpu --json`;

/**
 * `mnist devices`: prints the WebGPU adapters `--device` can pick (name, vendor, whether it is a
 * software adapter, subgroup width, the limits and features training uses), as text or `--json`;
 * exits with status 2 when there is none.
 */
export const devicesCommand: Command = {
  name: "devices",
  summary: "list the WebGPU adapters (GPU or CPU fallback)",
  help: HELP,
  async run(args) {
    const { values } = parseCommandArgs("devices", args, {
      common: ["device"],
      options: { json: { type: "boolean" } },
    });
    const choice = choiceOption("device", values.device, {
      choices: DEVICE_CHOICES,
      fallback: "auto",
    });
    // Fails with the "how to get an adapter" message (exit 2) when the choice has none.
    const chosen = await requestAdapter(choice);
    let adapters = await listAdapters();
    if (choice !== "auto") adapters = adapters.filter((a) => a.kind === choice);
    if (values.json) {
      console.log(JSON.stringify(adapters, null, 2));
      return;
    }
    for (const [i, a] of adapters.entries()) {
      const selected = a.name === (chosen.info.description || a.name) ? "  (selected)" : "";
      console.log(`[${i}] ${a.name}${selected}`);
      console.log(`    type:     ${a.kind === "cpu" ? "CPU (software/fallback adapter)" : "GPU"}`);
      console.log(`    vendor:   ${a.vendor || "-"}   architecture: ${a.architecture || "-"}`);
      // The workgroups of the 1-D kernels are whole subgroups (KernelCache.workgroup).
      const lanes = a.subgroupMinSize === a.subgroupMaxSize
        ? `${a.subgroupMaxSize}`
        : `${a.subgroupMinSize}-${a.subgroupMaxSize}`;
      console.log(`    subgroup: ${a.subgroupMaxSize ? `${lanes} lanes` : "-"}`);
      for (const [name, value] of Object.entries(a.limits)) {
        console.log(`    ${(name + ":").padEnd(36)}${value.toLocaleString("en-US")}`);
      }
      console.log(`    features: ${a.features.join(", ") || "-"}`);
    }
  },
};
