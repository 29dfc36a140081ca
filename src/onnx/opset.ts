/**
 * The ONNX versions `mnist export` writes, apart from the exporter so that the CLI can name them
 * without loading protobufjs (~60 ms) on every command.
 */

/** The ONNX operator set the graph uses (Softmax over one axis, as ours, is opset 13's). */
export const OPSET = 13;
/** The IR version that goes with opset 13 (ONNX 1.8). */
export const IR_VERSION = 7;
