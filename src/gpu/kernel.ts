/**
 * Kernels: WGSL modules (imported as text, so `deno compile` embeds them) turned into compute
 * pipelines that are created once per device and cached by `module:entry:constants`, each entry
 * point from a module of its own.
 * Bindings follow one order everywhere: outputs, then inputs, then the `Dims` uniform, in
 * group 0; kernels that read a batch straight from a dataset split also use group 1
 * ({@link BATCH_GROUP}). Dispatches bind buffers by the WGSL variable's name; the binding
 * numbers and kinds come from the module's own declarations ({@link wgslBindings}).
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

/** A module-scope variable bound to a resource, as its WGSL declaration says. */
export interface WgslBinding {
  /** `@group(N)`. */
  group: number;
  /** `@binding(N)`. */
  binding: number;
  /**
   * `var<storage, read_write>`: "storage"; `var<storage, read>` or `var<storage>`: "read";
   * `var<uniform>`: "uniform".
   */
  kind: "storage" | "read" | "uniform";
}

/** A resource variable's declaration: group, binding, address space and access, name. */
const BINDING_DECL = /@group\((\d+)\)\s*@binding\((\d+)\)\s*var\s*(?:<([^>]*)>)?\s*(\w+)/g;

/**
 * The resource variables `code` declares, by name (comments left out). Throws an Error on a
 * declaration it cannot read (a texture, a sampler, an `@binding` out of the house layout), a
 * name declared twice, or a (group, binding) number given to two variables.
 */
export function wgslBindings(code: string): ReadonlyMap<string, WgslBinding> {
  const bare = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const found = new Map<string, WgslBinding>();
  const numbers = new Map<string, string>();
  let count = 0;
  for (const [decl, group, binding, space, name] of bare.matchAll(BINDING_DECL)) {
    count++;
    const access = (space ?? "").split(",").map((s) => s.trim()).join(",");
    const kind = access === "storage,read_write"
      ? "storage"
      : access === "storage" || access === "storage,read"
      ? "read"
      : access === "uniform"
      ? "uniform"
      : null;
    if (kind === null) throw new Error(`Cannot bind "${decl}": not a buffer the kernels bind`);
    if (found.has(name!)) throw new Error(`Binding "${name}" is declared twice`);
    const number = `@group(${group}) @binding(${binding})`;
    const other = numbers.get(number);
    if (other !== undefined) throw new Error(`${number} is declared for both ${other} and ${name}`);
    numbers.set(number, name!);
    found.set(name!, { group: Number(group), binding: Number(binding), kind });
  }
  if (count !== bare.split("@binding(").length - 1) {
    throw new Error(`Cannot read every @binding: ${count} of them are declarations`);
  }
  return found;
}

const parsedBindings = new WeakMap<Program, ReadonlyMap<string, WgslBinding>>();

/**
 * The resource variables of `program`'s module by name ({@link wgslBindings}), parsed once per
 * Program. Throws as wgslBindings does, naming the module.
 */
export function programBindings(program: Program): ReadonlyMap<string, WgslBinding> {
  let bindings = parsedBindings.get(program);
  if (!bindings) {
    try {
      bindings = wgslBindings(program.code);
    } catch (e) {
      throw new Error(`${program.name}: ${(e as Error).message}`);
    }
    parsedBindings.set(program, bindings);
  }
  return bindings;
}

/** A pipeline plus the layout its bind groups are made with. */
export interface Kernel {
  /** `module.entry`, the label of the pipeline and its bind groups. */
  label: string;
  /** The compute pipeline, created once per device and entry point and constants. */
  pipeline: GPUComputePipeline;
  /** The layout of group 0, from `bindings`. */
  layout: GPUBindGroupLayout;
  /**
   * The group-0 variables its dispatches bind, by WGSL name: binding number and kind. The
   * layout lists these and no others (variables the entry point does not use are left out).
   */
  bindings: ReadonlyMap<string, { binding: number; kind: BindingKind }>;
  /** Whether the pipeline reads the batch of a Feeder's group 1 ({@link BATCH_GROUP}). */
  batch: boolean;
}

/** Options for `KernelCache.get`. */
export interface KernelOptions {
  /** The pipeline-overridable constants of the entry point (workgroup size, activation...). */
  constants?: Record<string, number>;
  /**
   * The names of the group-0 variables the entry point's dispatches bind, as the module
   * declares them; their numbers and kinds are the module's. Leave out the ones it does not use.
   */
  bind: readonly string[];
  /** Of `bind`, the read-only storage variable bound with a dynamic offset, if any. */
  dynamic?: string;
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

/**
 * {@link BATCH_GROUP}'s variables as kernels/dense_tiled.wgsl declares them (tests/kernel_test.ts
 * checks), and as {@link batchGroupLayout} lays them out: the split's images (u8, 4 per u32) and
 * labels, the batch's order slice (dynamic offset) and the network's labels, written.
 */
export const BATCH_BINDINGS = {
  images: { binding: 0, kind: "read" },
  labels: { binding: 1, kind: "read" },
  order: { binding: 2, kind: "read-dynamic" },
  label_out: { binding: 3, kind: "storage" },
} as const satisfies Record<string, { binding: number; kind: BindingKind }>;

/** The buffers of a {@link BATCH_GROUP} bind group, by the names of {@link BATCH_BINDINGS}. */
export type BatchBuffers = Readonly<Record<keyof typeof BATCH_BINDINGS, BufferRange>>;

const batchLayouts = new WeakMap<GPUDevice, GPUBindGroupLayout>();

/**
 * The layout of {@link BATCH_GROUP} on `device`: one object per device, shared by the pipelines
 * that read a batch and the bind groups that feed them.
 */
function batchGroupLayout(device: GPUDevice): GPUBindGroupLayout {
  let layout = batchLayouts.get(device);
  if (!layout) {
    layout = device.createBindGroupLayout({
      label: "batch",
      entries: Object.values(BATCH_BINDINGS).map(({ binding, kind }) => layoutEntry(binding, kind)),
    });
    batchLayouts.set(device, layout);
  }
  return layout;
}

/**
 * A bind group of {@link BATCH_GROUP} over `buffers`, by name: what a Feeder sets once per batch,
 * with the batch's order slice as the dynamic offset.
 */
export function batchBindGroup(device: GPUDevice, buffers: BatchBuffers): GPUBindGroup {
  return device.createBindGroup({
    label: "batch",
    layout: batchGroupLayout(device),
    entries: Object.entries(BATCH_BINDINGS).map(([name, { binding }]) => ({
      binding,
      resource: resourceOf(buffers[name as keyof BatchBuffers]),
    })),
  });
}

function resourceOf(r: BufferRange): GPUBufferBinding {
  return r instanceof GPUBuffer ? { buffer: r } : r;
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
    const label = `${program.name}.${entry}`;
    const bindings = layoutBindings(program, label, options);
    const bindingsKey = [...bindings].map(([n, { kind }]) => `${n}=${kind}`).join(",");
    const key = `${program.name}:${entry}:${constantsKey}:${bindingsKey}${batch ? ":batch" : ""}`;
    const cached = this.#kernels.get(key);
    if (cached) return cached;
    let module = this.#modules.get(label);
    if (!module) {
      const code = entryModuleCode(program.code, entry);
      module = this.#device.createShaderModule({ label, code });
      this.#modules.set(label, module);
    }
    const layout = this.#device.createBindGroupLayout({
      label,
      entries: [...bindings.values()].map(({ binding, kind }) => layoutEntry(binding, kind)),
    });
    const bindGroupLayouts = batch ? [layout, batchGroupLayout(this.#device)] : [layout];
    const pipeline = this.#device.createComputePipeline({
      label,
      layout: this.#device.createPipelineLayout({ label, bindGroupLayouts }),
      compute: { module, entryPoint: entry, constants },
    });
    const kernel = { label, pipeline, layout, bindings, batch };
    this.#kernels.set(key, kernel);
    return kernel;
  }

  /** How many pipelines have been created (tests check that training creates none per step). */
  get size(): number {
    return this.#kernels.size;
  }
}

/**
 * The group-0 variables `options.bind` names, in binding order, with their kinds from
 * `program`'s declarations. Throws an Error naming `label` where a name is not one of the
 * module's group-0 variables (a {@link BATCH_GROUP} variable included: a Feeder binds those),
 * is given twice, or `options.dynamic` is not a read-only storage variable of `bind`.
 */
function layoutBindings(
  program: Program,
  label: string,
  options: KernelOptions,
): ReadonlyMap<string, { binding: number; kind: BindingKind }> {
  const declared = programBindings(program);
  const group0 = () => [...declared].filter(([, d]) => d.group === 0).map(([n]) => n).join(", ");
  const bindings: [string, { binding: number; kind: BindingKind }][] = [];
  for (const name of options.bind) {
    const decl = declared.get(name);
    if (decl === undefined) {
      throw new Error(`${label}: the module declares no binding "${name}"; group 0: ${group0()}`);
    }
    if (decl.group !== 0) {
      throw new Error(
        `${label}: "${name}" is in @group(${decl.group}), which the dispatch does not bind`,
      );
    }
    if (bindings.some(([n]) => n === name)) throw new Error(`${label}: "${name}" bound twice`);
    const dynamic = name === options.dynamic;
    if (dynamic && decl.kind !== "read") {
      throw new Error(`${label}: "${name}" is not read-only storage, so has no dynamic offset`);
    }
    bindings.push([name, { binding: decl.binding, kind: dynamic ? "read-dynamic" : decl.kind }]);
  }
  if (options.dynamic !== undefined && !options.bind.includes(options.dynamic)) {
    throw new Error(`${label}: the dynamic binding "${options.dynamic}" is not bound`);
  }
  return new Map(bindings.sort(([, a], [, b]) => a.binding - b.binding));
}

/** A buffer, or a range of one (offsets in bytes, multiples of 256). */
export type BufferRange = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

/** Buffers by the names of the WGSL variables they are bound to. */
export type Bindings = Readonly<Record<string, BufferRange>>;

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
 * A bind group for `kernel` over `io`, by name: exactly the variables its layout lists.
 * Throws an Error naming the kernel where a name is missing or extra, or a value is no buffer.
 */
function bindGroup(device: GPUDevice, kernel: Kernel, io: Bindings): GPUBindGroup {
  const names = Object.keys(io);
  const extra = names.filter((n) => !kernel.bindings.has(n));
  const missing = [...kernel.bindings.keys()].filter((n) => !Object.hasOwn(io, n));
  if (extra.length > 0 || missing.length > 0) {
    throw new Error(
      `${kernel.label}: its layout binds ${[...kernel.bindings.keys()].join(", ")}; ` +
        `given ${names.join(", ")}`,
    );
  }
  return device.createBindGroup({
    label: kernel.label,
    layout: kernel.layout,
    entries: [...kernel.bindings].map(([name, { binding }]) => ({
      binding,
      resource: resourceOf(io[name]!),
    })),
  });
}

/**
 * One dispatch described as data: the buffers bound by the names of the module's variables
 * (`out`, `in0`, `no_decay`...), the `Dims` uniform as `dims`. The binding numbers and kinds are
 * the module's declarations ({@link programBindings}); a variable left out is not in the
 * pipeline's layout, so the entry point must not use it.
 */
export interface DispatchSpec {
  /** The module. */
  program: Program;
  /** The entry point, named literally where the op's table lists it. */
  entry: string;
  /** Pipeline-overridable constants (workgroup size, activations...). */
  constants?: Record<string, number>;
  /** The buffers bound, by WGSL variable name: storage written or read, and uniforms. */
  io: Bindings;
  /** The `Dims` uniform (the module's `dims`): a buffer, or one slot of a buffer of several. */
  dims: BufferRange;
  /** Workgroup counts. */
  grid: [number, number?, number?];
  /** The variable of `io` bound with a dynamic offset (set at encode time), if any. */
  dynamic?: string;
  /** Whether the entry point reads a batch from a Feeder's group 1 ({@link BATCH_GROUP}). */
  batch?: boolean;
}

/**
 * The one builder every op goes through: the cached pipeline of `spec`'s entry point (made on
 * first use), its bind group over `spec.io` and `spec.dims` by name, and the workgroup counts.
 * Throws an Error when a name is not a group-0 variable of the module, a value is no buffer,
 * `io` holds `dims` too, or the counts exceed the device's `maxComputeWorkgroupsPerDimension`.
 */
export function dispatchOf(device: GPUDevice, kernels: KernelCache, spec: DispatchSpec): Dispatch {
  const label = `${spec.program.name}.${spec.entry}`;
  if (Object.hasOwn(spec.io, "dims")) throw new Error(`${label}: "dims" given twice`);
  const io: Bindings = { ...spec.io, dims: spec.dims };
  for (const [name, buffer] of Object.entries(io)) {
    // Null or undefined from a caller that left the types behind (a `!`, plain JS).
    if (buffer === null || buffer === undefined) {
      throw new Error(`${label}: "${name}" is given no buffer`);
    }
  }
  const kernel = kernels.get(spec.program, spec.entry, {
    constants: spec.constants,
    bind: Object.keys(io),
    dynamic: spec.dynamic,
    batch: spec.batch,
  });
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  if (spec.grid.some((n) => n !== undefined && n > limit)) {
    throw new Error(`${label}: ${spec.grid.join("x")} workgroups exceed the limit ${limit}`);
  }
  return { kernel, bindGroup: bindGroup(device, kernel, io), workgroups: spec.grid };
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

/** A row's dispatch of one pass, its buffers bound by name (see {@link DispatchSpec}). */
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
  /** The buffers bound, by the names of the module's variables (see {@link DispatchSpec.io}). */
  io: Bindings;
  /** The `Dims` uniform (the module's `dims`): a buffer, or one slot of a buffer of several. */
  dims: BufferRange;
  /** Whether the entry point reads a batch from a Feeder's group 1 ({@link BATCH_GROUP}). */
  batch?: boolean;
}

/**
 * The generic builder: the dispatch of `row`'s `spec.pass` for a layer of `spec.shape`, with the
 * row's workgroup size fitted to the device (as the `WG` constant), its grid, and `spec.io`
 * bound by name. Throws as {@link dispatchOf} does.
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
  return dispatchOf(device, kernels, {
    program: row.program,
    entry: row.entries[pass],
    constants: { ...(WG === null ? {} : { WG }), ...spec.constants },
    io,
    dims: spec.dims,
    batch: spec.batch,
    grid: Array.isArray(grid)
      ? grid
      : workgroupGrid(device, { invocations: grid.invocations, wg: WG ?? 1 }),
  });
}

/**
 * Encodes `dispatch` into `pass`, with `dynamicOffsets` (bytes, one per dynamic binding) for a
 * dispatch made with a `dynamic` binding.
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
