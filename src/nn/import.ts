/**
 * Plain safetensors files (no mnist metadata) as the tutorial's networks: which of `MODELS` a
 * file's tensors are, and which tensor is which parameter. A file written by PyTorch
 * (`safetensors.torch.save_file(model.state_dict())`) or MXNet holds only weights and biases,
 * named after the layers (`fc1.weight`, `fc1_weight`) or not (`0.weight` from an
 * `nn.Sequential`), in an order of the writer's choosing (safetensors sorts them by name), so
 * names are tried first, then shapes. Shapes follow PyTorch and MXNet: dense (out, in),
 * convolution (out, in, kh, kw), bias (out); a dense layer after a convolution reads the
 * flattened (C, H, W) in NCHW order. See docs/checkpoint.md.
 */
import { UserError } from "../errors.ts";
import { inferShapes, MODELS, type ModelSpec, type ParamShape } from "./model.ts";

/** What a file's tensors were matched by. */
export type ArchSource = "metadata" | "names" | "shapes" | "--arch";

/**
 * Which architecture a checkpoint holds and how that was decided: from mnist's metadata, from
 * the tensors' names, from their shapes, or from `--arch` (the names and shapes only checked).
 */
export interface ModelOrigin {
  /** The network's name: a key of `MODELS` (mlp, lenet), or an mnist checkpoint's own. */
  architecture: string;
  /** What decided it: mnist's metadata, the tensors' names or shapes, or `--arch`. */
  from: ArchSource;
  /** For a plain file: how its tensors are named ("mxnet" `fc1_weight`, "pytorch" `fc1.weight`). */
  naming?: "mxnet" | "pytorch" | "other";
}

/** The architectures `--arch` names: the built-in models. */
export const ARCHITECTURES: readonly string[] = Object.keys(MODELS);

const CHOICES = ARCHITECTURES.join("|");

/** The `--arch` line of a command's help, the same in every command that loads a model. */
export const ARCH_HELP: string = `  --arch ${CHOICES.padEnd(16)}` +
  "the network of a plain safetensors file (a PyTorch\n" +
  "                         state_dict), where its tensors' names and shapes do not say";

/** Parses `--arch`: undefined when absent, else one of `ARCHITECTURES`, else a `UserError`. */
export function archOption(value: string | undefined): string | undefined {
  if (value === undefined || ARCHITECTURES.includes(value)) return value;
  throw new UserError(`--arch must be one of ${ARCHITECTURES.join(", ")}, got "${value}"`);
}

/**
 * Where a checkpoint's architecture came from, in words: "lenet (recorded in the checkpoint)",
 * "mlp (tensor names, PyTorch's)", "lenet (tensor shapes)", "mlp (--arch)". Not "(mnist
 * metadata)", which read as "trained on MNIST" for a Fashion-MNIST checkpoint.
 */
export function describeOrigin(origin: ModelOrigin): string {
  const naming =
    { mxnet: ", MXNet's", pytorch: ", PyTorch's", other: "" }[origin.naming ?? "other"];
  const from = {
    metadata: "recorded in the checkpoint",
    names: `tensor names${naming}`,
    shapes: "tensor shapes",
    "--arch": "--arch",
  }[origin.from];
  return `${origin.architecture} (${from})`;
}

/**
 * A checkpoint's architecture and its source for JSON output (`eval --json`, `predict --json`):
 * `{"name": "lenet", "from": "names", "naming": "pytorch"}`; null when unknown.
 */
export function originJson(
  { origin }: { origin?: ModelOrigin },
): { name: string; from: ArchSource; naming?: string } | null {
  if (!origin) return null;
  return {
    name: origin.architecture,
    from: origin.from,
    ...(origin.naming ? { naming: origin.naming } : {}),
  };
}

/** A tensor of a file: its name and shape (dtype and bytes are the caller's). */
export interface TensorShape {
  /** As the file names it: `fc1_weight`, `fc1.weight`... */
  name: string;
  /** Its dimensions, outermost first: (O, I) for a dense weight, (O, C, K, K) for a kernel. */
  shape: readonly number[];
}

/** A plain file's tensors matched to a model: parameter name (`fc1_weight`) → tensor name. */
export interface Recognised {
  /** The built-in model (`MODELS`) whose parameters the tensors match. */
  model: ModelSpec;
  /** Which architecture, and whether the names, the shapes or `--arch` said so. */
  origin: ModelOrigin;
  /** Each parameter's tensor in the file, by the parameter's MXNet name. */
  tensors: Map<string, string>;
}

const NAMINGS = {
  mxnet: (p: ParamShape) => p.name,
  // fc1_weight → fc1.weight: layer names hold no dots, so the last "_" splits them.
  pytorch: (p: ParamShape) => p.name.replace(/_(weight|bias)$/, ".$1"),
} as const;

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function paramsOf(model: ModelSpec): ParamShape[] {
  return inferShapes(model).flatMap((l) => l.params);
}

/** The tensors as a short list for a message: `"fc1.weight" [128,784], ...`. */
function listed(tensors: readonly TensorShape[]): string {
  const shown = tensors.slice(0, 4).map((t) => `${JSON.stringify(t.name)} [${t.shape}]`);
  if (tensors.length > 4) shown.push(`and ${tensors.length - 4} more`);
  return shown.join(", ");
}

/** Matches by name: every tensor is one of `model`'s parameters under one naming, and all are. */
function byNames(
  model: ModelSpec,
  tensors: readonly TensorShape[],
): { naming: "mxnet" | "pytorch"; map: Map<string, string> } | undefined {
  const params = paramsOf(model);
  for (
    const [naming, nameOf] of Object.entries(NAMINGS) as [
      keyof typeof NAMINGS,
      typeof NAMINGS.mxnet,
    ][]
  ) {
    const wanted = new Map(params.map((p) => [nameOf(p), p.name]));
    if (
      tensors.length === params.length && tensors.every((t) => wanted.has(t.name))
    ) {
      return { naming, map: new Map(tensors.map((t) => [wanted.get(t.name)!, t.name])) };
    }
  }
  return undefined;
}

/** Matches by shape: each parameter has exactly one tensor of its shape and no tensor is left. */
function byShapes(
  model: ModelSpec,
  tensors: readonly TensorShape[],
): Map<string, string> | undefined {
  const params = paramsOf(model);
  if (tensors.length !== params.length) return undefined;
  const map = new Map<string, string>();
  for (const p of params) {
    const found = tensors.filter((t) => same(t.shape, p.shape));
    if (found.length !== 1) return undefined;
    map.set(p.name, found[0]!.name);
  }
  return new Set(map.values()).size === tensors.length ? map : undefined;
}

/** What is wrong with `tensors` as `arch`'s parameters: the first problem, in words. */
function diagnose(arch: string, tensors: readonly TensorShape[]): string {
  const params = paramsOf(MODELS[arch]!());
  const names = new Set(tensors.map((t) => t.name));
  for (const [naming, nameOf] of Object.entries(NAMINGS)) {
    // Named after the layers, but not all of them, or with a wrong shape: say which.
    if (!params.some((p) => names.has(nameOf(p)))) continue;
    for (const p of params) {
      const t = tensors.find((t) => t.name === nameOf(p));
      if (!t) return `it has no tensor ${JSON.stringify(nameOf(p))} (${naming} naming)`;
      if (!same(t.shape, p.shape)) {
        return `tensor ${JSON.stringify(t.name)} has shape [${t.shape}], expected [${p.shape}]`;
      }
    }
    const extra = tensors.find((t) => !params.some((p) => nameOf(p) === t.name));
    if (extra) {
      return `tensor ${JSON.stringify(extra.name)} [${extra.shape}] is not one of its parameters`;
    }
  }
  for (const p of params) {
    if (!tensors.some((t) => same(t.shape, p.shape))) {
      return `no tensor has the shape of ${p.name} [${p.shape}]`;
    }
  }
  const extra = tensors.find((t) => !params.some((p) => same(t.shape, p.shape)));
  if (extra) {
    return `tensor ${JSON.stringify(extra.name)} [${extra.shape}] is not one of its parameters`;
  }
  return `its tensors' shapes match more than one parameter each`;
}

/**
 * Recognises a plain file's tensors as one of the built-in models (`MODELS`): by names (MXNet's
 * `fc1_weight` or PyTorch's `fc1.weight`, every parameter and nothing else), else by shapes (each
 * parameter's shape held by exactly one tensor, nothing left over). `arch` (`--arch`) says which
 * model the file must be; the match is then only checked, and a mismatch says what is wrong.
 * Throws an `Error` whose message is one line, for the loader to wrap with the file's name.
 */
export function recognise(
  tensors: readonly TensorShape[],
  { arch }: { arch?: string } = {},
): Recognised {
  const candidates = arch === undefined ? ARCHITECTURES : [arch];
  if (arch !== undefined && !ARCHITECTURES.includes(arch)) {
    throw new Error(
      `--arch must be one of ${ARCHITECTURES.join(", ")}, got ${JSON.stringify(arch)}`,
    );
  }
  for (const name of candidates) {
    const named = byNames(MODELS[name]!(), tensors);
    if (!named) continue;
    const model = MODELS[name]!();
    // Names decide which tensor is which; the shapes must still be the parameters'.
    for (const p of paramsOf(model)) {
      const t = tensors.find((t) => t.name === named.map.get(p.name))!;
      if (!same(t.shape, p.shape)) {
        throw new Error(
          `tensor ${JSON.stringify(t.name)} has shape [${t.shape}], expected [${p.shape}] ` +
            `for ${name}'s ${p.name} (PyTorch's and MXNet's layout)`,
        );
      }
    }
    return {
      model,
      origin: { architecture: name, from: arch ? "--arch" : "names", naming: named.naming },
      tensors: named.map,
    };
  }
  for (const name of candidates) {
    const model = MODELS[name]!();
    const map = byShapes(model, tensors);
    if (!map) continue;
    return {
      model,
      origin: { architecture: name, from: arch ? "--arch" : "shapes", naming: "other" },
      tensors: map,
    };
  }
  if (arch !== undefined) {
    const other = ARCHITECTURES.find((a) =>
      a !== arch && (byNames(MODELS[a]!(), tensors) || byShapes(MODELS[a]!(), tensors))
    );
    if (other) throw new Error(`--arch ${arch} was given, but its tensors are ${other}'s`);
    throw new Error(`its tensors are not ${arch}'s: ${diagnose(arch, tensors)}`);
  }
  throw new Error(
    `it has no network description, and its ${tensors.length} tensors are neither ` +
      `${ARCHITECTURES.join("'s nor ")}'s by name or shape (${listed(tensors)})`,
  );
}
