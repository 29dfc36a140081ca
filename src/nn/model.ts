/**
 * Network descriptions: plain JSON-able specs (saved in checkpoints so `eval` and `predict` can
 * rebuild the network) and the shape inference every other part relies on.
 */

/** An activation fused into the layer that produces it. */
export type Activation = "none" | "relu" | "tanh" | "sigmoid";

/** Activation codes, as the kernels' `ACT` override constant expects them. */
export const ACTIVATION_CODE: Record<Activation, number> = {
  none: 0,
  relu: 1,
  tanh: 2,
  sigmoid: 3,
};

/** A fully connected layer: `units` outputs, then `act`. Flattens its input. */
export interface DenseSpec {
  /** Tag of the {@link LayerSpec} union, as checkpoints' JSON spells it. */
  kind: "dense";
  /**
   * Unique in the model, 1 to 64 of `[A-Za-z0-9_-]`; prefixes the tensor names
   * (`fc1_weight`, `fc1_bias`).
   */
  name: string;
  /**
   * Outputs per sample, O (1 to {@link MODEL_LIMITS}.width): weight (O, I), bias (O), output
   * (B, O), where I is the input's size per sample.
   */
  units: number;
  /** Applied to the output inside the layer's kernel. */
  act: Activation;
}

/**
 * A 2-D convolution (cross-correlation, as MXNet and PyTorch): `filters` output channels,
 * a square `kernel`, then `act`. Weights (O, C, K, K), bias (O).
 */
export interface Conv2dSpec {
  /** Tag of the {@link LayerSpec} union, as checkpoints' JSON spells it. */
  kind: "conv2d";
  /** Unique in the model, 1 to 64 of `[A-Za-z0-9_-]`; prefixes the tensor names. */
  name: string;
  /** Output channels O (1 to {@link MODEL_LIMITS}.width). */
  filters: number;
  /** Side K of the square window, in pixels (1 to {@link MODEL_LIMITS}.window). */
  kernel: number;
  /**
   * Pixels between windows, in both directions: output side ⌊(H + 2·pad − K) / stride⌋ + 1,
   * as in MXNet's Convolution and PyTorch's Conv2d.
   */
  stride: number;
  /** Zero pixels added on every side of the input, 0 to K − 1. */
  pad: number;
  /** Applied to the output inside the layer's kernel. */
  act: Activation;
}

/** Max pooling over `size`×`size` windows every `stride` pixels (no activation). */
export interface MaxPoolSpec {
  /** Tag of the {@link LayerSpec} union, as checkpoints' JSON spells it. */
  kind: "maxpool";
  /** Unique in the model, 1 to 64 of `[A-Za-z0-9_-]`. */
  name: string;
  /** Window side, in pixels (1 to {@link MODEL_LIMITS}.window). */
  size: number;
  /**
   * Pixels between windows: output side ⌊(H − size) / stride⌋ + 1, no padding (MXNet's
   * default "valid" pooling convention).
   */
  stride: number;
  /** Always "none": {@link checkModelSpec} rejects any other. */
  act: "none";
}

/** Flattens (C, H, W) to (C·H·W): no computation on row-major buffers. */
export interface FlattenSpec {
  /** Tag of the {@link LayerSpec} union, as checkpoints' JSON spells it. */
  kind: "flatten";
  /** Unique in the model, 1 to 64 of `[A-Za-z0-9_-]`. */
  name: string;
  /** Always "none": {@link checkModelSpec} rejects any other. */
  act: "none";
}

/** One layer of a model. */
export type LayerSpec = DenseSpec | Conv2dSpec | MaxPoolSpec | FlattenSpec;

/** A whole network: input shape (C, H, W), layers, and a softmax over `classes` at the end. */
export interface ModelSpec {
  /**
   * 1 to 64 of `[A-Za-z0-9_.-]`, as messages, summaries and drawings show it; the built-ins
   * use their `--model` name.
   */
  name: string;
  /** One sample's (C, H, W): channels, then height and width in pixels; MNIST's is [1, 28, 28]. */
  input: [number, number, number];
  /** N, the last layer's outputs and the softmax's width; 10 for MNIST's digits. */
  classes: number;
  /**
   * From the input on (1 to {@link MODEL_LIMITS}.layers); the last has `classes` outputs and
   * no activation ({@link checkClassifier}).
   */
  layers: LayerSpec[];
}

/** A learnable tensor of a layer, named MXNet-style (`fc1_weight`). */
export interface ParamShape {
  /** `<layer>_weight` or `<layer>_bias`, MXNet's names; the tensor's key in checkpoints. */
  name: string;
  /** Row-major: dense weight (O, I), conv2d weight (O, C, K, K), bias (O). */
  shape: number[];
  /** Fan-in and fan-out for Xavier initialisation; absent for biases (initialised to zero). */
  fans?: [number, number];
}

/** A layer with its shapes resolved. */
export interface LayerInfo {
  /** The layer as the model describes it. */
  spec: LayerSpec;
  /** Input shape without the batch. */
  input: number[];
  /** Output shape without the batch. */
  output: number[];
  /** Its learnable tensors, weight before bias; empty for maxpool and flatten. */
  params: ParamShape[];
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Resolves every layer's input/output shapes and parameters; throws on an inconsistent spec. */
export function inferShapes(model: ModelSpec): LayerInfo[] {
  let shape: number[] = [...model.input];
  const infos: LayerInfo[] = [];
  for (const spec of model.layers) {
    const input = shape;
    switch (spec.kind) {
      case "dense": {
        const I = sizeOf(input);
        const O = spec.units;
        shape = [O];
        infos.push({
          spec,
          input,
          output: shape,
          params: [
            { name: `${spec.name}_weight`, shape: [O, I], fans: [I, O] },
            { name: `${spec.name}_bias`, shape: [O] },
          ],
        });
        break;
      }
      case "conv2d": {
        const [C, H, W] = input as [number, number, number];
        const { filters: O, kernel: K, stride, pad } = spec;
        const OH = Math.floor((H + 2 * pad - K) / stride) + 1;
        const OW = Math.floor((W + 2 * pad - K) / stride) + 1;
        if (input.length !== 3 || !(OH >= 1 && OW >= 1)) {
          throw new Error(`Layer "${spec.name}": a ${K}×${K} kernel does not fit input ${input}`);
        }
        shape = [O, OH, OW];
        infos.push({
          spec,
          input,
          output: shape,
          params: [
            { name: `${spec.name}_weight`, shape: [O, C, K, K], fans: [C * K * K, O * K * K] },
            { name: `${spec.name}_bias`, shape: [O] },
          ],
        });
        break;
      }
      case "maxpool": {
        const [C, H, W] = input as [number, number, number];
        const OH = Math.floor((H - spec.size) / spec.stride) + 1;
        const OW = Math.floor((W - spec.size) / spec.stride) + 1;
        if (input.length !== 3 || !(OH >= 1 && OW >= 1)) {
          throw new Error(
            `Layer "${spec.name}": a ${spec.size}×${spec.size} pool does not fit ${input}`,
          );
        }
        shape = [C, OH, OW];
        infos.push({ spec, input, output: shape, params: [] });
        break;
      }
      case "flatten":
        shape = [sizeOf(input)];
        infos.push({ spec, input, output: shape, params: [] });
        break;
      default:
        throw new Error(`Unknown layer kind "${(spec as { kind: string }).kind}"`);
    }
  }
  return infos;
}

/**
 * Checks that `model` ends in a classifier the softmax loss can sit on: `classes` outputs and no
 * activation. Returns the shapes.
 */
export function checkClassifier(model: ModelSpec): LayerInfo[] {
  const infos = inferShapes(model);
  const last = infos.at(-1);
  if (!last || sizeOf(last.output) !== model.classes || last.spec.act !== "none") {
    throw new Error(
      `Model "${model.name}" must end in a layer of ${model.classes} outputs with no activation`,
    );
  }
  return infos;
}

/** Bounds a model read from a file must keep, so a hostile one cannot ask for absurd buffers. */
export const MODEL_LIMITS = {
  /** Layers in all. */
  layers: 64,
  /** Each input dimension (C, H, W). */
  inputSide: 4096,
  /** Dense units, convolution filters and classes. */
  width: 65536,
  /** Kernel and pool sizes, strides and padding. */
  window: 64,
  /** Values per sample of any layer's input or output. */
  activations: 1 << 22,
  /** Learnable parameters in all (1 GiB of float32). */
  params: 1 << 28,
  /**
   * Multiply-adds of one sample's forward pass (`forwardCost`), a max-pool's comparisons
   * counted as one each: 2^30, some 465 times LeNet's 2.31 million and 7 times a VGG-style
   * network on 28×28 digits (3×3 convolutions of 64, 64, 128, 128, 256, 256, 256 filters, three
   * 2×2 pools, fc 1024: 147 million), while a 1 MB file cannot ask for minutes of compute per
   * digit (61 convolutions of 63×63 that grow the input to 2012 pixels a side: 6.5·10^11).
   */
  multiplyAdds: 2 ** 30,
  /**
   * Values of one sample's activations, the input and every layer's output together, which
   * training keeps (and a gradient of each): 2^24, 64 MiB of float32 a sample, some 820 times
   * LeNet's 20,494 and 79 times the VGG-style network's 213,402; the limit per layer
   * (`activations`) alone would allow 64 layers of 2^22, a gigabyte a sample.
   */
  sampleActivations: 1 << 24,
} as const;

/**
 * What one sample costs `infos`' network going forward: multiply-adds (dense: I·O; a convolution:
 * O·OH·OW·C·K²; a max-pool: C·OH·OW·size² comparisons) and activation values (the input and
 * each layer's output). MLP: 109,184 and 986; LeNet: 2,307,720 and 20,494.
 */
export function forwardCost(infos: LayerInfo[]): { multiplyAdds: number; activations: number } {
  let multiplyAdds = 0;
  let activations = infos.length > 0 ? sizeOf(infos[0]!.input) : 0;
  for (const { spec, input, output } of infos) {
    activations += sizeOf(output);
    if (spec.kind === "dense") multiplyAdds += sizeOf(input) * sizeOf(output);
    if (spec.kind === "conv2d") multiplyAdds += sizeOf(output) * input[0]! * spec.kernel ** 2;
    if (spec.kind === "maxpool") multiplyAdds += sizeOf(output) * spec.size ** 2;
  }
  return { multiplyAdds, activations };
}

const ACTIVATIONS = Object.keys(ACTIVATION_CODE) as Activation[];
/** Layer names become tensor names (`fc1_weight`): no dots, which the optimizer's prefix uses. */
const LAYER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MODEL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A value from a file, quoted for a one-line message (JSON escapes newlines) and cut short. */
export function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Checks that `value`, parsed from a file, is a well-formed {@link ModelSpec} within
 * {@link MODEL_LIMITS} that ends in a classifier; throws an `Error` whose message says what is
 * wrong in one line. Returns the spec and its shapes.
 */
export function checkModelSpec(value: unknown): { model: ModelSpec; infos: LayerInfo[] } {
  if (!isRecord(value)) throw new Error(`expected a JSON object, got ${quote(value)}`);
  const int = (what: string, v: unknown, min: number, max: number): void => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new Error(`${what} must be an integer between ${min} and ${max}, got ${quote(v)}`);
    }
  };
  if (typeof value.name !== "string" || !MODEL_NAME.test(value.name)) {
    throw new Error(
      `the name must be 1 to 64 letters, digits, "_", "-" or ".", got ${quote(value.name)}`,
    );
  }
  const { input, classes, layers } = value;
  if (!Array.isArray(input) || input.length !== 3) {
    throw new Error(`the input must be [channels, height, width], got ${quote(input)}`);
  }
  input.forEach((n, i) => int(`input[${i}]`, n, 1, MODEL_LIMITS.inputSide));
  int("classes", classes, 1, MODEL_LIMITS.width);
  if (!Array.isArray(layers) || layers.length < 1 || layers.length > MODEL_LIMITS.layers) {
    throw new Error(
      `the layers must be a list of 1 to ${MODEL_LIMITS.layers}, got ${quote(layers)}`,
    );
  }
  const names = new Set<string>();
  layers.forEach((layer: unknown, i) => {
    const at = `layer ${i}`;
    if (!isRecord(layer)) throw new Error(`${at} must be a JSON object, got ${quote(layer)}`);
    const { kind, name, act } = layer;
    if (typeof name !== "string" || !LAYER_NAME.test(name)) {
      throw new Error(
        `${at}'s name must be 1 to 64 letters, digits, "_" or "-", got ${quote(name)}`,
      );
    }
    if (names.has(name)) throw new Error(`two layers are named ${quote(name)}`);
    names.add(name);
    const where = `layer ${i} (${quote(name)})`;
    const acts: readonly string[] = kind === "dense" || kind === "conv2d" ? ACTIVATIONS : ["none"];
    switch (kind) {
      case "dense":
        int(`${where}: units`, layer.units, 1, MODEL_LIMITS.width);
        break;
      case "conv2d":
        int(`${where}: filters`, layer.filters, 1, MODEL_LIMITS.width);
        int(`${where}: kernel`, layer.kernel, 1, MODEL_LIMITS.window);
        int(`${where}: stride`, layer.stride, 1, MODEL_LIMITS.window);
        int(`${where}: pad`, layer.pad, 0, (layer.kernel as number) - 1);
        break;
      case "maxpool":
        int(`${where}: size`, layer.size, 1, MODEL_LIMITS.window);
        int(`${where}: stride`, layer.stride, 1, MODEL_LIMITS.window);
        break;
      case "flatten":
        break;
      default:
        throw new Error(
          `${where}: kind ${quote(kind)} is not one of dense, conv2d, maxpool, flatten`,
        );
    }
    if (typeof act !== "string" || !acts.includes(act)) {
      throw new Error(`${where}: activation ${quote(act)} is not one of ${acts.join(", ")}`);
    }
  });
  const model = value as unknown as ModelSpec;
  const infos = checkClassifier(model);
  let params = 0;
  for (const info of infos) {
    for (const shape of [info.input, info.output]) {
      if (sizeOf(shape) > MODEL_LIMITS.activations) {
        throw new Error(
          `layer ${quote(info.spec.name)} has ${sizeOf(shape)} values per sample, ` +
            `more than ${MODEL_LIMITS.activations}`,
        );
      }
    }
    params += info.params.reduce((n, p) => n + sizeOf(p.shape), 0);
  }
  if (params > MODEL_LIMITS.params) {
    throw new Error(`${params} parameters is more than ${MODEL_LIMITS.params}`);
  }
  const cost = forwardCost(infos);
  if (cost.multiplyAdds > MODEL_LIMITS.multiplyAdds) {
    throw new Error(
      `one sample's forward pass takes ${cost.multiplyAdds.toExponential(2)} multiply-adds, ` +
        "more than the limit of 2^30 (1.07e+9, some 465 times LeNet's), which keeps a model " +
        "file from asking for minutes of compute per digit",
    );
  }
  if (cost.activations > MODEL_LIMITS.sampleActivations) {
    throw new Error(
      `one sample's activations take ${cost.activations} values, more than the limit of 2^24 ` +
        `(${MODEL_LIMITS.sampleActivations}, 64 MiB of float32, some 820 times LeNet's), ` +
        "which keeps a model file from asking for gigabytes per digit",
    );
  }
  return { model, infos };
}

/** Total number of learnable parameters. */
export function parameterCount(model: ModelSpec): number {
  return inferShapes(model).reduce(
    (n, info) => n + info.params.reduce((m, p) => m + sizeOf(p.shape), 0),
    0,
  );
}

/** The tutorial's multilayer perceptron: 784 → 128 ReLU → 64 ReLU → 10 (109,386 parameters). */
export function mlp(): ModelSpec {
  return {
    name: "mlp",
    input: [1, 28, 28],
    classes: 10,
    layers: [
      { kind: "dense", name: "fc1", units: 128, act: "relu" },
      { kind: "dense", name: "fc2", units: 64, act: "relu" },
      { kind: "dense", name: "fc3", units: 10, act: "none" },
    ],
  };
}

/**
 * The tutorial's LeNet: conv 5×5×20 → tanh → max-pool 2×2 → conv 5×5×50 → tanh → max-pool 2×2
 * → flatten → fc 500 → tanh → fc 10 (431,080 parameters).
 */
export function lenet(): ModelSpec {
  return {
    name: "lenet",
    input: [1, 28, 28],
    classes: 10,
    layers: [
      { kind: "conv2d", name: "conv1", filters: 20, kernel: 5, stride: 1, pad: 0, act: "tanh" },
      { kind: "maxpool", name: "pool1", size: 2, stride: 2, act: "none" },
      { kind: "conv2d", name: "conv2", filters: 50, kernel: 5, stride: 1, pad: 0, act: "tanh" },
      { kind: "maxpool", name: "pool2", size: 2, stride: 2, act: "none" },
      { kind: "flatten", name: "flatten", act: "none" },
      { kind: "dense", name: "fc1", units: 500, act: "tanh" },
      { kind: "dense", name: "fc2", units: 10, act: "none" },
    ],
  };
}

/** The built-in models, by `--model` name. */
export const MODELS: Record<string, () => ModelSpec> = { mlp, lenet };
