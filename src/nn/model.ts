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
  kind: "dense";
  name: string;
  units: number;
  act: Activation;
}

/**
 * A 2-D convolution (cross-correlation, as MXNet and PyTorch): `filters` output channels,
 * a square `kernel`, then `act`. Weights (O, C, K, K), bias (O).
 */
export interface Conv2dSpec {
  kind: "conv2d";
  name: string;
  filters: number;
  kernel: number;
  stride: number;
  pad: number;
  act: Activation;
}

/** Max pooling over `size`×`size` windows every `stride` pixels (no activation). */
export interface MaxPoolSpec {
  kind: "maxpool";
  name: string;
  size: number;
  stride: number;
  act: "none";
}

/** Flattens (C, H, W) to (C·H·W): no computation on row-major buffers. */
export interface FlattenSpec {
  kind: "flatten";
  name: string;
  act: "none";
}

/** One layer of a model. */
export type LayerSpec = DenseSpec | Conv2dSpec | MaxPoolSpec | FlattenSpec;

/** A whole network: input shape (C, H, W), layers, and a softmax over `classes` at the end. */
export interface ModelSpec {
  name: string;
  input: [number, number, number];
  classes: number;
  layers: LayerSpec[];
}

/** A learnable tensor of a layer, named MXNet-style (`fc1_weight`). */
export interface ParamShape {
  name: string;
  shape: number[];
  /** Fan-in and fan-out for Xavier initialisation; absent for biases (initialised to zero). */
  fans?: [number, number];
}

/** A layer with its shapes resolved. */
export interface LayerInfo {
  spec: LayerSpec;
  /** Input shape without the batch. */
  input: number[];
  /** Output shape without the batch. */
  output: number[];
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
