/**
 * Kernels: WGSL modules (imported as text, so `deno compile` embeds them) turned into compute
 * pipelines that are created once per device and cached by `module:entry:constants`, each entry
 * point from a module of its own.
 * Bindings follow one order everywhere: outputs, then inputs, then the `Dims` uniform, in
 * group 0; kernels that read a batch straight from a dataset split also use group 1
 * ({@link BATCH_GROUP}).
 */

/** A WGSL module: its file's base name and source. */
export interface Program {
  /** The file's base name (`dense_tiled`): labels the module and its pipelines. */
  name: string;
  /** The WGSL source, with kernels/activation.wgsl joined where the op uses it. */
  code: string;
}

/** How a binding is used: written, read, a uniform, or read with a dynamic offset. */
export type BindingKind = "storage" | "read" | "uniform" | "read-dynamic";

/** A pipeline plus the layout its bind groups are made with. */
export interface Kernel {
  /** `module.entry`, the label of the pipeline and its bind groups. */
  label: string;
  /** The compute pipeline, created once per device and entry point and constants. */
  pipeline: GPUComputePipeline;
  /** The layout of group 0, from `bindings`. */
  layout: GPUBindGroupLayout;
  /** The kind of each binding number 0..n-1, `null` where the entry point uses none. */
  bindings: readonly (BindingKind | null)[];
  /** Whether the pipeline reads the batch of a Feeder's group 1 ({@link BATCH_GROUP}). */
  batch: boolean;
}

/** Options for `KernelCache.get`. */
export interface KernelOptions {
  /** The pipeline-overridable constants of the entry point (workgroup size, activation...). */
  constants?: Record<string, number>;
  /**
   * The kinds of bindings 0..n-1 of group 0, in the house order: outputs, inputs, `Dims`;
   * `null` for a binding number this entry point does not use.
   */
  bindings: readonly (BindingKind | null)[];
  /**
   * Whether the entry point also reads a batch from group 1 ({@link BATCH_GROUP}), which a
   * Feeder binds rather than the dispatch.
   */
  batch?: boolean;
}

/**
 * The group of the kernels that read their batch straight from a dataset split on the GPU
 * rather than from the network's input (the gather-fused first layers of
 * kernels/dense_tiled.wgsl): the Feeder (src/train/feeder.ts) sets it once per batch with the
 * batch's order slice as its dynamic offset, and it stays set for the dispatches after. Its
 * bindings: the split's images (u8, 4 per u32) and labels, the order slice (B sample indices,
 * dynamic offset) and the network's labels, written. The dispatches in between (the loss, which
 * reads those labels, the other layers, the update) have pipelines without group 1: this relies
 * on a dispatch's bind groups being checked against its own pipeline layout only, as WebGPU's
 * prose and wgpu do (tests/gather_fused_test.ts would fail otherwise). CPU-tuned kernels only.
 */
export const BATCH_GROUP = 1;

/** The kinds of {@link BATCH_GROUP}'s bindings 0..3, as {@link batchGroupLayout} lays them out. */
const BATCH_BINDINGS: readonly BindingKind[] = ["read", "read", "read-dynamic", "storage"];

const batchLayouts = new WeakMap<GPUDevice, GPUBindGroupLayout>();

/**
 * The layout of {@link BATCH_GROUP} on `device`: one object per device, shared by the pipelines
 * that read a batch and the bind groups that feed them.
 */
export function batchGroupLayout(device: GPUDevice): GPUBindGroupLayout {
  let layout = batchLayouts.get(device);
  if (!layout) {
    layout = device.createBindGroupLayout({
      label: "batch",
      entries: BATCH_BINDINGS.map((kind, i) => layoutEntry(i, kind)),
    });
    batchLayouts.set(device, layout);
  }
  return layout;
}

function layoutEntry(binding: number, kind: BindingKind): GPUBindGroupLayoutEntry {
  const visibility = GPUShaderStage.COMPUTE;
  switch (kind) {
    case "storage":
      return { binding, visibility, buffer: { type: "storage" } };
    case "read":
      return { binding, visibility, buffer: { type: "read-only-storage" } };
    case "read-dynamic":
      return { binding, visibility, buffer: { type: "read-only-storage", hasDynamicOffset: true } };
    case "uniform":
      return { binding, visibility, buffer: { type: "uniform" } };
  }
}

/** What bounds a workgroup's size: the device's limits and its adapter's SIMD width. */
export interface WorkgroupBounds {
  /** `maxComputeInvocationsPerWorkgroup`. */
  maxInvocations: number;
  /** `maxComputeWorkgroupSizeX`. */
  maxSizeX: number;
  /** Lanes per subgroup (the adapter's `subgroupMaxSize`); 0 when unknown. */
  subgroup: number;
}

/**
 * The size of a 1-D workgroup for `bounds`, given the `preferred` size (a power of two): whole
 * subgroups (a workgroup smaller than one leaves SIMD lanes idle: llvmpipe runs 8 invocations
 * per AVX2 register, NVIDIA 32 per warp, AMD 32 or 64 per wave), within the device's limits,
 * and a power of two (the tree reductions halve it).
 */
export function fitWorkgroup(preferred: number, bounds: WorkgroupBounds): number {
  const cap = 2 ** Math.floor(Math.log2(Math.min(bounds.maxInvocations, bounds.maxSizeX)));
  const lanes = 2 ** Math.ceil(Math.log2(Math.max(1, bounds.subgroup)));
  return Math.min(cap, Math.max(preferred, lanes));
}

/** An entry point's function: its `@compute` line through the `}` that closes it at column 0. */
const ENTRY_POINT = /^@compute\b[^\n]*\n\s*fn (\w+)\s*\(/gm;

/**
 * `code` without the functions of its entry points other than `entry`: what the module of
 * `entry`'s pipeline is made from. WebGPU implementations parse and validate a module whole,
 * and the generated modules are large: kernels/conv2d_tiled.wgsl's 420 KB took Deno's naga
 * 0.55 s on the CPU, its pooled forward's share 0.2 s. Everything else (structs, bindings,
 * overrides, helper functions, comments) stays. Entry points follow the house layout: a line
 * starting `@compute`, `fn` on the next, and the body closed by a `}` at the start of a line.
 * Throws an Error where `code` has no entry point `entry` or one is not closed.
 */
export function entryModuleCode(code: string, entry: string): string {
  const parts: string[] = [];
  let from = 0;
  let found = false;
  for (const match of code.matchAll(ENTRY_POINT)) {
    const end = code.indexOf("\n}", match.index);
    if (end < 0) throw new Error(`entry point ${match[1]} has no closing "}" at a line's start`);
    if (match[1] === entry) {
      found = true;
      continue;
    }
    parts.push(code.slice(from, match.index));
    from = end + 2;
  }
  if (!found) throw new Error(`no entry point ${entry}`);
  parts.push(code.slice(from));
  return parts.join("");
}

/**
 * Creates pipelines once per device and hands out the cached ones, and sizes the 1-D
 * workgroups (the `WG` override of the kernels) for the device. Each entry point gets a module
 * of its own, without the other entry points' functions ({@link entryModuleCode}).
 */
export class KernelCache {
  readonly #device: GPUDevice;
  readonly #modules = new Map<string, GPUShaderModule>();
  readonly #kernels = new Map<string, Kernel>();
  readonly #bounds: WorkgroupBounds;

  /** `subgroup` stands in for the adapter's `subgroupMaxSize` (for tests). */
  constructor(device: GPUDevice, { subgroup }: { subgroup?: number } = {}) {
    this.#device = device;
    this.#bounds = {
      maxInvocations: device.limits.maxComputeInvocationsPerWorkgroup,
      maxSizeX: device.limits.maxComputeWorkgroupSizeX,
      subgroup: subgroup ?? device.adapterInfo?.subgroupMaxSize ?? 0,
    };
  }

  /** The `WG` of a kernel that prefers `preferred` invocations, on this device. */
  workgroup(preferred: number): number {
    return fitWorkgroup(preferred, this.#bounds);
  }

  /** The pipeline for `program`'s `entry` with `options.constants`, created on first use. */
  get(program: Program, entry: string, options: KernelOptions): Kernel {
    const constants = options.constants ?? {};
    const constantsKey = Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(",");
    const batch = options.batch ?? false;
    const key = `${program.name}:${entry}:${constantsKey}${batch ? ":batch" : ""}`;
    const cached = this.#kernels.get(key);
    if (cached) return cached;
    const label = `${program.name}.${entry}`;
    let module = this.#modules.get(label);
    if (!module) {
      const code = entryModuleCode(program.code, entry);
      module = this.#device.createShaderModule({ label, code });
      this.#modules.set(label, module);
    }
    const layout = this.#device.createBindGroupLayout({
      label,
      entries: options.bindings.flatMap((kind, i) => kind ? [layoutEntry(i, kind)] : []),
    });
    const bindGroupLayouts = batch ? [layout, batchGroupLayout(this.#device)] : [layout];
    const pipeline = this.#device.createComputePipeline({
      label,
      layout: this.#device.createPipelineLayout({ label, bindGroupLayouts }),
      compute: { module, entryPoint: entry, constants },
    });
    const kernel = { label, pipeline, layout, bindings: options.bindings, batch };
    this.#kernels.set(key, kernel);
    return kernel;
  }

  /** How many pipelines have been created (tests check that training creates none per step). */
  get size(): number {
    return this.#kernels.size;
  }
}

/** A buffer, or a range of one (offsets in bytes, multiples of 256). */
export type BufferRange = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

/** A dispatch ready to encode: kernel, its bind group and the workgroup counts. */
export interface Dispatch {
  /** The cached pipeline and its layout. */
  kernel: Kernel;
  /** The buffers, bound once when the dispatch is made. */
  bindGroup: GPUBindGroup;
  /** Workgroup counts along x, y and z (y and z default to 1). */
  workgroups: [number, number?, number?];
}

/**
 * The binding kinds of `resources` in the house order: `outputs` storage buffers, the read-only
 * inputs, and the last `uniforms` (the `Dims` uniform last of them, so 1 when there is only
 * it); null where a resource is null (unused).
 */
export function houseBindings(
  resources: readonly (BufferRange | null)[],
  outputs: number,
  uniforms = 1,
): (BindingKind | null)[] {
  return resources.map((r, i) =>
    r === null
      ? null
      : i < outputs
      ? "storage"
      : i >= resources.length - uniforms
      ? "uniform"
      : "read"
  );
}

/**
 * Makes a bind group for `kernel` over `resources` in binding order (`null` where unused).
 * Throws when `resources` does not match the kernel's bindings in number or in which are unused.
 */
export function bindGroup(
  device: GPUDevice,
  { kernel, resources }: { kernel: Kernel; resources: readonly (BufferRange | null)[] },
): GPUBindGroup {
  if (resources.length !== kernel.bindings.length) {
    throw new Error(
      `${kernel.label}: expected ${kernel.bindings.length} bindings, got ${resources.length}`,
    );
  }
  return device.createBindGroup({
    label: kernel.label,
    layout: kernel.layout,
    entries: resources.flatMap((r, binding) => {
      if ((r === null) !== (kernel.bindings[binding] === null)) {
        throw new Error(`${kernel.label}: binding ${binding} does not match the layout`);
      }
      return r === null ? [] : [{ binding, resource: r instanceof GPUBuffer ? { buffer: r } : r }];
    }),
  });
}

/**
 * Prepares a dispatch of `kernel` over `resources` (in binding order, `null` where unused) with
 * `workgroups` counts along x, y and z. Throws when a count exceeds the device's
 * `maxComputeWorkgroupsPerDimension`, or as {@link bindGroup} does.
 */
export function makeDispatch(
  device: GPUDevice,
  { kernel, resources, workgroups }: {
    kernel: Kernel;
    resources: readonly (BufferRange | null)[];
    workgroups: [number, number?, number?];
  },
): Dispatch {
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups.some((n) => n !== undefined && n > limit)) {
    throw new Error(
      `${kernel.label}: ${workgroups.join("x")} workgroups exceed the limit ${limit}`,
    );
  }
  return { kernel, bindGroup: bindGroup(device, { kernel, resources }), workgroups };
}

/**
 * One dispatch described as data, in the house binding order: `outputs` (storage, from binding
 * 0), then `inputs` (read-only storage), then `dims` (the uniform). `null` marks a binding
 * number the entry point does not use.
 */
export interface DispatchSpec {
  /** The module. */
  program: Program;
  /** The entry point, named literally where the op's table lists it. */
  entry: string;
  /** Pipeline-overridable constants (workgroup size, activations...). */
  constants?: Record<string, number>;
  /** The storage buffers written, from binding 0 (`null` where unused). */
  outputs: readonly (BufferRange | null)[];
  /** The read-only storage buffers, after the outputs (`null` where unused). */
  inputs: readonly (BufferRange | null)[];
  /** Uniform buffers read as data, after the inputs (`null` where unused); none if absent. */
  uniforms?: readonly (BufferRange | null)[];
  /** The `Dims` uniform, bound last: a buffer, or one slot of a buffer of several. */
  dims: BufferRange;
  /** Workgroup counts. */
  grid: [number, number?, number?];
  /** The index in `inputs` bound with a dynamic offset (set at encode time), if any. */
  dynamicInput?: number;
  /** Whether the entry point reads a batch from a Feeder's group 1 ({@link BATCH_GROUP}). */
  batch?: boolean;
}

/**
 * The one builder every op goes through: the cached pipeline of `spec`'s entry point (made on
 * first use), its bind group in the house order, and the workgroup counts. Throws when the
 * counts exceed the device's `maxComputeWorkgroupsPerDimension`.
 */
export function dispatchOf(device: GPUDevice, kernels: KernelCache, spec: DispatchSpec): Dispatch {
  const { outputs, inputs, dims, dynamicInput } = spec;
  const uniforms = spec.uniforms ?? [];
  const resources = [...outputs, ...inputs, ...uniforms, dims];
  const dynamic = dynamicInput === undefined ? -1 : outputs.length + dynamicInput;
  const bindings = houseBindings(resources, outputs.length, uniforms.length + 1).map((kind, i) =>
    i === dynamic ? "read-dynamic" as const : kind
  );
  const kernel = kernels.get(spec.program, spec.entry, {
    constants: spec.constants,
    bindings,
    batch: spec.batch,
  });
  return makeDispatch(device, { kernel, resources, workgroups: spec.grid });
}

/**
 * Workgroup counts for `invocations` invocations of a `wg`-wide kernel that numbers them
 * gid.x + gid.y · (x workgroups · wg): one dimension while it fits the device's limit, else a
 * grid (the kernels skip the invocations past the end).
 */
export function workgroupGrid(
  device: GPUDevice,
  { invocations, wg }: { invocations: number; wg: number },
): [number, number] {
  const groups = Math.max(1, Math.ceil(invocations / wg));
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(groups / limit);
  return [Math.ceil(groups / y), y];
}

/**
 * A pass's workgroups: counts, or a number of invocations that the builder spreads over the
 * row's workgroups with {@link workgroupGrid} (for kernels that number their invocations
 * gid.x + gid.y · (x workgroups · WG)).
 */
export type Grid = [number, number?, number?] | { invocations: number };

/** The device limits a row's `fits` may consult. */
export type RowLimits = Pick<
  GPUSupportedLimits,
  "maxComputeInvocationsPerWorkgroup" | "maxComputeWorkgroupStorageSize"
>;

/**
 * One variant of an op, as data: a row of the op's table (`DENSE_TABLE`, `CONV2D_TABLE`,
 * `POOL_TABLE`, ...). `Shape` is the layer's shape without the batch (what `fits` sees); its
 * dispatches are sized for `Shape & { B }`. `Pass` names the row's dispatches (forward,
 * weight, input...), each an entry point of `program` named literally in `entries`, so that a
 * search for an entry point's name finds the row that dispatches it.
 */
export interface KernelRow<Shape, Pass extends string> {
  /** The variant's stable name: what chooseVariants returns and checkpoints record. */
  variant: string;
  /** The WGSL module of every entry point in `entries`. */
  program: Program;
  /** Each pass's entry point. */
  entries: Readonly<Record<Pass, string>>;
  /** Storage outputs each entry point binds, from binding 0, before its inputs (or per pass). */
  outputs: number | Readonly<Record<Pass, number>>;
  /**
   * The preferred size of a 1-D workgroup (the `WG` override, fitted to the device by
   * `KernelCache.workgroup`) for a layer of this shape; null when the WGSL fixes the size.
   */
  workgroup(shape: Shape & { B: number }): number | null;
  /** The largest `WG` the module's workgroup arrays hold, if it has any. */
  maxWorkgroup?: number;
  /** Whether the row's kernels handle a layer of this shape on a device with these limits. */
  fits(shape: Shape, limits: RowLimits): boolean;
  /** Each pass's workgroups at batch B, with the fitted workgroup size `WG` (0 when fixed). */
  grid(shape: Shape & { B: number; WG: number }): Readonly<Record<Pass, Grid>>;
}

/** A row's dispatch of one pass, in the house binding order (see {@link DispatchSpec}). */
export interface RowDispatchSpec<Shape, Pass extends string> {
  /** Which of the row's entry points to dispatch. */
  pass: Pass;
  /** The device the dispatch is made for. */
  device: GPUDevice;
  /** The pipeline cache the row's entry point is created in (once) and taken from. */
  kernels: KernelCache;
  /** The layer's shape at its batch size. */
  shape: Shape & { B: number };
  /** Constants besides `WG` (activations, tile rows...). */
  constants?: Record<string, number>;
  /** The row's `outputs` storage buffers, then the inputs (`null` where a binding is unused). */
  io: readonly (BufferRange | null)[];
  /** Uniform buffers read as data, bound after `io` (see {@link DispatchSpec.uniforms}). */
  uniforms?: readonly (BufferRange | null)[];
  /** The `Dims` uniform, bound last: a buffer, or one slot of a buffer of several. */
  dims: BufferRange;
  /** Whether the entry point reads a batch from a Feeder's group 1 ({@link BATCH_GROUP}). */
  batch?: boolean;
}

/**
 * The generic builder: the dispatch of `row`'s `spec.pass` for a layer of `spec.shape`, with the
 * row's workgroup size fitted to the device (as the `WG` constant), its grid, and the bindings
 * `spec.io` split into the row's outputs and inputs. Throws as {@link dispatchOf} does.
 */
export function rowDispatch<Shape, Pass extends string>(
  row: KernelRow<Shape, Pass>,
  spec: RowDispatchSpec<Shape, Pass>,
): Dispatch {
  const { device, kernels, shape, io, pass } = spec;
  const preferred = row.workgroup(shape);
  const WG = preferred === null
    ? null
    : Math.min(row.maxWorkgroup ?? Infinity, kernels.workgroup(preferred));
  const grid = row.grid({ ...shape, WG: WG ?? 0 })[pass];
  const outputs = typeof row.outputs === "number" ? row.outputs : row.outputs[pass];
  return dispatchOf(device, kernels, {
    program: row.program,
    entry: row.entries[pass],
    constants: { ...(WG === null ? {} : { WG }), ...spec.constants },
    outputs: io.slice(0, outputs),
    inputs: io.slice(outputs),
    uniforms: spec.uniforms,
    dims: spec.dims,
    batch: spec.batch,
    grid: Array.isArray(grid)
      ? grid
      : workgroupGrid(device, { invocations: grid.invocations, wg: WG ?? 1 }),
  });
}

/**
 * Encodes `dispatch` into `pass`, with `dynamicOffsets` (bytes, one per dynamic binding) for a
 * dispatch made with a `dynamicInput`.
 */
export function encode(
  pass: GPUComputePassEncoder,
  dispatch: Dispatch,
  { dynamicOffsets }: { dynamicOffsets?: number[] } = {},
): void {
  pass.setPipeline(dispatch.kernel.pipeline);
  pass.setBindGroup(0, dispatch.bindGroup, dynamicOffsets);
  const [x, y = 1, z = 1] = dispatch.workgroups;
  pass.dispatchWorkgroups(x, y, z);
}

/**
 * How many dispatches `fn` encodes into a pass: `fn` runs against a pass that only counts
 * `dispatchWorkgroups` calls (pipelines and bind groups set on it are ignored), so nothing
 * reaches the GPU. For `--profile`'s and the benches' dispatches per training step.
 */
export function countDispatches(fn: (pass: GPUComputePassEncoder) => void): number {
  let count = 0;
  const counter = {
    setPipeline() {},
    setBindGroup() {},
    dispatchWorkgroups() {
      count++;
    },
    dispatchWorkgroupsIndirect() {
      count++;
    },
  };
  fn(counter as unknown as GPUComputePassEncoder);
  return count;
}
