/**
 * ONNX export (https://onnx.ai/onnx/repo-docs/IR.html): a network and its weights as one
 * `ModelProto`, for onnxruntime and every other ONNX runtime. The protobuf is written by
 * protobufjs from ONNX's own schema, `onnx.proto` beside this file (ONNX v1.22.0's
 * onnx/onnx.proto, verbatim, Apache-2.0), imported as text so `deno compile` embeds it.
 *
 * The graph: input `data` float32 [N, C, H, W] (N dynamic), one node per MXNet operator with
 * MXNet's names (`conv1`, `tanh1`, `pool1`, `fc1`, `relu1`...: as `mnist summary` lists them),
 * weights as initializers under MXNet's names (`fc1_weight`), and output `softmax` float32
 * [N, classes]. Dense layers are `Gemm` with transB (weights (out, in)), preceded by a `Flatten`
 * (NCHW order, as ours) when their input is not flat; convolutions `Conv`, pooling `MaxPool`
 * (floor mode, as ours), activations `Relu`, `Tanh`, `Sigmoid`; opset 13.
 */
import protobuf from "protobufjs";
import schema from "./onnx.proto" with { type: "text" };
import { inferShapes, type ModelSpec } from "../nn/model.ts";
import { IR_VERSION, OPSET } from "./opset.ts";

export { IR_VERSION, OPSET };

/** TensorProto.DataType.FLOAT. */
const FLOAT = 1;
/** AttributeProto.AttributeType INT and INTS. */
const INT = 2;
const INTS = 7;

/** What `exportOnnx` writes besides the network: metadata_props and the producer. */
export interface OnnxOptions {
  /**
   * The class names, in output order ("0" to "9" for MNIST); absent for a model whose outputs
   * are not a dataset's classes (its metadata_props then name none).
   */
  classes?: readonly string[];
  /**
   * The dataset the model was trained on (default "mnist"), whose conventions the input
   * contract states: MNIST's digits or Fashion-MNIST's garments.
   */
  dataset?: string;
  /** Key/value pairs for the model's metadata_props (after the input contract). */
  metadata?: Record<string, string>;
  /** The producer version (mnist's). */
  producerVersion: string;
}

let modelType: protobuf.Type | undefined;

/** onnx.ModelProto, parsed from the embedded schema on first use (a few ms, not every command). */
export function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.parse(schema, { keepCase: true }).root.lookupType("onnx.ModelProto");
  return modelType;
}

type Attribute = { name: string; type: number; i?: number; ints?: number[] };

function node(
  op: string,
  name: string,
  inputs: string[],
  attributes: Record<string, number | number[]> = {},
) {
  const attribute: Attribute[] = Object.entries(attributes).map(([key, value]) =>
    Array.isArray(value)
      ? { name: key, type: INTS, ints: value }
      : { name: key, type: INT, i: value }
  );
  return { op_type: op, name, input: inputs, output: [`${name}_output`], attribute };
}

const ACTIVATION_OPS = { relu: "Relu", tanh: "Tanh", sigmoid: "Sigmoid" } as const;

/**
 * The input contract, as metadata_props: what `data` must hold for the probabilities to mean
 * anything. These are the conventions of the model's dataset: MNIST's for a digit model (which
 * `mnist predict` applies to photos and drawings), Zalando's for a Fashion-MNIST one (made from
 * product photos: no 20 px box, no centre of mass, the garment's shades kept).
 */
function contract(
  model: ModelSpec,
  { classes, dataset = "mnist" }: { classes?: readonly string[]; dataset?: string },
): Record<string, string> {
  const [C, H, W] = model.input;
  const fashion = dataset === "fashion";
  return {
    input: `data: float32 [N, ${C}, ${H}, ${W}], grey pixels / 255, in [0, 1]`,
    ink: fashion
      ? "a light garment on a black background (0 is background), as Fashion-MNIST: negate a " +
        "product photo's light background"
      : "light ink on a black background (0 is background), as MNIST: invert dark ink on " +
        "light paper",
    preprocessing: fashion
      ? "as Zalando's Fashion-MNIST: trim to the garment, scale so that its longer side is " +
        `${Math.max(H!, W!)} px, centre it in ${H}×${W}, its shades kept`
      : "as LeCun's MNIST: crop to the ink, scale so that its longer side is 20 px " +
        `(area averaging), place in ${H}×${W} with its centre of mass at the centre`,
    output: `softmax: float32 [N, ${model.classes}], class probabilities` +
      (classes ? " in the order of classes" : ""),
    ...(classes ? { classes: JSON.stringify(classes) } : {}),
  };
}

/**
 * The ONNX model of `model` with weights `params` (by MXNet name: `fc1_weight` (out, in),
 * `conv1_weight` (out, in, kh, kw), biases (out); float32), as protobuf bytes. Throws if a
 * parameter is missing or has the wrong size.
 */
export function exportOnnx(
  { model, params }: { model: ModelSpec; params: Map<string, Float32Array> },
  options: OnnxOptions,
): Uint8Array {
  const nodes = [];
  const initializer = [];
  const counts = new Map<string, number>();
  let x = "data";
  const add = (n: ReturnType<typeof node>) => {
    nodes.push(n);
    x = n.output[0]!;
  };
  const infos = inferShapes(model);
  for (const info of infos) {
    const spec = info.spec;
    for (const p of info.params) {
      const data = params.get(p.name);
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (!data || data.length !== size) {
        throw new Error(
          `Parameter "${p.name}" is missing or has ${data?.length} values, not ${size}`,
        );
      }
      // Little-endian float32, as TensorProto's raw_data wants (every Deno platform is LE).
      initializer.push({
        name: p.name,
        dims: p.shape,
        data_type: FLOAT,
        raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      });
    }
    const weights = info.params.map((p) => p.name);
    switch (spec.kind) {
      case "dense":
        if (info.input.length > 1) add(node("Flatten", `${spec.name}_flatten`, [x], { axis: 1 }));
        add(node("Gemm", spec.name, [x, ...weights], { transB: 1 }));
        break;
      case "conv2d":
        add(node("Conv", spec.name, [x, ...weights], {
          kernel_shape: [spec.kernel, spec.kernel],
          strides: [spec.stride, spec.stride],
          pads: [spec.pad, spec.pad, spec.pad, spec.pad],
        }));
        break;
      case "maxpool":
        add(node("MaxPool", spec.name, [x], {
          kernel_shape: [spec.size, spec.size],
          strides: [spec.stride, spec.stride],
        }));
        break;
      case "flatten":
        add(node("Flatten", spec.name, [x], { axis: 1 }));
        break;
    }
    if (spec.act !== "none") {
      // Named as MXNet's graph and `mnist summary` name them: relu1, relu2, tanh1...
      const n = (counts.get(spec.act) ?? 0) + 1;
      counts.set(spec.act, n);
      add(node(ACTIVATION_OPS[spec.act], `${spec.act}${n}`, [x]));
    }
  }
  if (infos.at(-1)!.output.length > 1) add(node("Flatten", "softmax_flatten", [x], { axis: 1 }));
  nodes.push({ ...node("Softmax", "softmax", [x], { axis: 1 }), output: ["softmax"] });

  const tensorType = (dims: (number | string)[]) => ({
    tensor_type: {
      elem_type: FLOAT,
      shape: {
        dim: dims.map((d) => typeof d === "string" ? { dim_param: d } : { dim_value: d }),
      },
    },
  });
  const metadata = {
    ...contract(model, {
      ...(options.classes ? { classes: options.classes } : {}),
      ...(options.dataset ? { dataset: options.dataset } : {}),
    }),
    ...options.metadata,
  };
  const Model = onnxModelType();
  const message = Model.fromObject({
    ir_version: IR_VERSION,
    opset_import: [{ domain: "", version: OPSET }],
    producer_name: "mnist",
    producer_version: options.producerVersion,
    doc_string: `${model.name}: ${metadata.input}; ${metadata.ink}. ${metadata.output}.`,
    graph: {
      name: model.name,
      node: nodes,
      initializer,
      input: [{ name: "data", type: tensorType(["N", ...model.input]) }],
      output: [{ name: "softmax", type: tensorType(["N", model.classes]) }],
    },
    metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return Model.encode(message).finish();
}
