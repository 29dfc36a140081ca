/**
 * WebGPU adapter and device acquisition. Every command that needs the GPU goes through
 * `acquireGpu`, so a missing adapter always gives the same message and exit code 2.
 */
import { envVar } from "../env.ts";
import { UserError } from "../errors.ts";

/** `--device`: any adapter, a hardware GPU only, or the software (fallback/CPU) adapter only. */
export type DeviceChoice = "auto" | "gpu" | "cpu";

/** The device choices, for option validation. */
export const DEVICE_CHOICES: readonly DeviceChoice[] = ["auto", "gpu", "cpu"];

/** An open device and what we know about the adapter it came from. */
export interface Gpu {
  /** The adapter the device came from. */
  adapter: GPUAdapter;
  /** The open device, with the adapter's limits requested. */
  device: GPUDevice;
  /** True for a software/fallback adapter (e.g. Mesa's llvmpipe): MXNet's `cpu(0)`. */
  isCpu: boolean;
  /** A human-readable adapter name: description, else vendor and architecture. */
  name: string;
  /** Whether timestamp queries were enabled on the device. */
  timestamps: boolean;
  /**
   * Throws if WebGPU reported an error (a validation error is a bug in this program, not a
   * user mistake). Called after each readback, so a broken kernel cannot train silently.
   */
  checkErrors(): void;
}

/** What `mnist devices` prints about an adapter. */
export interface AdapterSummary {
  /** "cpu" for a software/fallback adapter (llvmpipe), else "gpu". */
  kind: "gpu" | "cpu";
  /** A human-readable adapter name, as {@link Gpu}'s `name`. */
  name: string;
  /** The vendor by name with its id, "Mesa (0x10005)" (see `vendorName`); "" when unknown. */
  vendor: string;
  /** The vendor's PCI or Khronos id, when the adapter gives a number (wgpu does); else null. */
  vendorId: number | null;
  /** `GPUAdapterInfo.architecture`; "" when unknown. */
  architecture: string;
  /** `GPUAdapterInfo.description`; "" when unknown. */
  description: string;
  /** `GPUAdapterInfo.isFallbackAdapter`. */
  isFallback: boolean;
  /** Lanes per subgroup (SIMD width), least and most; 0 where the adapter does not say. */
  subgroupMinSize: number;
  /** See `subgroupMinSize`. */
  subgroupMaxSize: number;
  /** The adapter's WebGPU features, sorted. */
  features: string[];
  /** The adapter's WebGPU limits by name. */
  limits: Record<string, number>;
}

const NO_ADAPTER_HINT =
  "Install your GPU's Vulkan/Metal/DX12 driver, or for a CPU adapter on Linux: " +
  "apt-get install mesa-vulkan-drivers";

/** The adapter limits worth showing and requesting. */
export const KEY_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
] as const;

function isFallback(adapter: GPUAdapter): boolean {
  // Deno 2.x exposes the flag on `info`; the spec moved it there from the adapter.
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return Boolean(info.isFallbackAdapter ?? legacy);
}

function adapterName(adapter: GPUAdapter): string {
  const info = adapter.info;
  return info.description ||
    [vendorName(info.vendor), info.architecture, info.device].filter(Boolean).join(" ") ||
    "unknown adapter";
}

/**
 * Vendor ids by the company's name. `GPUAdapterInfo.vendor` is, in Deno's wgpu, the driver's
 * vendor id in decimal: a PCI vendor id (assigned by PCI-SIG, https://pcisig.com/membership/
 * member-companies; also in the pci.ids database, https://pci-ids.ucw.cz/) for hardware, or a
 * Khronos vendor id (Vulkan's `VkVendorId` enum in vulkan_core.h, 0x10000 and up) for vendors
 * without a PCI id: Mesa's llvmpipe says 65541, which is 0x10005, `VK_VENDOR_ID_MESA`.
 */
const VENDOR_IDS: ReadonlyMap<number, string> = new Map([
  // PCI-SIG vendor ids
  [0x10de, "NVIDIA"],
  [0x1002, "AMD"],
  [0x1022, "AMD"],
  [0x8086, "Intel"],
  [0x106b, "Apple"],
  [0x13b5, "ARM"],
  [0x5143, "Qualcomm"],
  [0x1010, "Imagination"],
  [0x14e4, "Broadcom"],
  [0x1414, "Microsoft"],
  [0x15ad, "VMware"],
  [0x1af4, "Red Hat (virtio)"],
  [0x1ae0, "Google"],
  // Khronos vendor ids (VkVendorId: VK_VENDOR_ID_KHRONOS ... VK_VENDOR_ID_MOBILEYE)
  [0x10000, "Khronos"],
  [0x10001, "Vivante"],
  [0x10002, "VeriSilicon"],
  [0x10003, "Kazan"],
  [0x10004, "Codeplay"],
  [0x10005, "Mesa"],
  [0x10006, "PoCL"],
  [0x10007, "Mobileye"],
]);

/**
 * The vendor id in `vendor` as a number, when it is one: decimal as Deno's wgpu gives it
 * ("65541"), or hexadecimal ("0x10005"); otherwise undefined (a browser's "nvidia", or "").
 */
export function vendorId(vendor: string): number | undefined {
  const text = vendor.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text.slice(2), 16);
  return undefined;
}

/**
 * `GPUAdapterInfo.vendor` for people: a known id becomes the vendor's name with the id in
 * hexadecimal, as vendor ids are written ("65541" → "Mesa (0x10005)", "4318" → "NVIDIA
 * (0x10de)"); an unknown id is "unknown vendor (0x1234)"; a vendor that is already a name
 * ("nvidia") or empty is returned as it is.
 */
export function vendorName(vendor: string): string {
  const id = vendorId(vendor);
  if (id === undefined) return vendor;
  const hex = `0x${id.toString(16)}`;
  return `${VENDOR_IDS.get(id) ?? "unknown vendor"} (${hex})`;
}

function gpuApi(): GPU {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    throw new UserError("WebGPU is not available in this runtime (navigator.gpu is missing)", {
      hint: "Run with Deno 2.x, which ships WebGPU.",
      exitCode: 2,
    });
  }
  return gpu;
}

/** Whether the first adapter request has been made (see {@link quietRuntimeDir}). */
let probed = false;

/**
 * Before the first adapter request on Linux and the BSDs, when `XDG_RUNTIME_DIR` is unset (or
 * not an absolute path, as over ssh, su or in a container), sets it to a new empty directory of
 * the system's temporary one, user-only (0700), and returns that directory; otherwise undefined.
 * Enumerating adapters makes the graphics stack look for a Wayland display (Mesa's Vulkan
 * device-select layer, EGL), and libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set
 * in the environment." on stderr each time it finds the variable unset: 2 lines for a command,
 * 8 for `devices`, which read as this program's errors. In an empty directory it finds no
 * display either, as before, but quietly; the adapters found are the same. The caller removes
 * the directory after the request: a later look finds nothing there just as quietly.
 * Nothing happens in a browser, or without --allow-env and --allow-write.
 */
function quietRuntimeDir(): string | undefined {
  if (probed) return undefined;
  probed = true;
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!deno || deno.build.os === "windows" || deno.build.os === "darwin") return undefined;
  try {
    if (deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) return undefined;
    const dir = deno.makeTempDirSync({ prefix: "mnist-runtime-" });
    deno.chmodSync(dir, 0o700);
    deno.env.set("XDG_RUNTIME_DIR", dir);
    return dir;
  } catch {
    // Not allowed, or a value Deno cannot read (not UTF-8, so set): left as it is.
    return undefined;
  }
}

/** `gpu.requestAdapter(options)`, the first time with {@link quietRuntimeDir}'s directory. */
async function adapterFor(
  gpu: GPU,
  options: GPURequestAdapterOptions,
): Promise<GPUAdapter | null> {
  const dir = quietRuntimeDir();
  try {
    return await gpu.requestAdapter(options);
  } finally {
    if (dir !== undefined) {
      try {
        Deno.removeSync(dir);
      } catch {
        // Already gone: nothing to tidy.
      }
    }
  }
}

/** Finds the adapter for `choice`, or throws a `UserError` (exit code 2) saying how to get one. */
export async function requestAdapter(choice: DeviceChoice = "auto"): Promise<GPUAdapter> {
  const gpu = gpuApi();
  if (choice === "cpu") {
    const adapter = await adapterFor(gpu, { forceFallbackAdapter: true });
    if (!adapter || !isFallback(adapter)) {
      throw new UserError("No CPU (fallback) WebGPU adapter found", {
        hint:
          "On Linux: apt-get install mesa-vulkan-drivers (Mesa's llvmpipe), or use --device auto.",
        exitCode: 2,
      });
    }
    return adapter;
  }
  const adapter = await adapterFor(gpu, { powerPreference: "high-performance" });
  if (!adapter) {
    throw new UserError("No WebGPU adapter found", { hint: NO_ADAPTER_HINT, exitCode: 2 });
  }
  if (choice === "gpu" && isFallback(adapter)) {
    throw new UserError(
      `No hardware GPU adapter found (only the software adapter "${adapterName(adapter)}")`,
      { hint: "Install your GPU's driver, or use --device cpu or --device auto.", exitCode: 2 },
    );
  }
  return adapter;
}

/** Describes the adapters reachable with each preference, without duplicates. */
export async function listAdapters(): Promise<AdapterSummary[]> {
  const gpu = gpuApi();
  const found: GPUAdapter[] = [];
  for (
    const options of [
      { powerPreference: "high-performance" },
      { powerPreference: "low-power" },
      { forceFallbackAdapter: true },
    ] as GPURequestAdapterOptions[]
  ) {
    const adapter = await adapterFor(gpu, options);
    if (adapter) found.push(adapter);
  }
  const seen = new Set<string>();
  const summaries: AdapterSummary[] = [];
  for (const adapter of found) {
    const info = adapter.info;
    const key = `${info.vendor}|${info.architecture}|${info.device}|${info.description}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const limits: Record<string, number> = {};
    for (const name of KEY_LIMITS) limits[name] = adapter.limits[name];
    summaries.push({
      kind: isFallback(adapter) ? "cpu" : "gpu",
      name: adapterName(adapter),
      vendor: vendorName(info.vendor),
      vendorId: vendorId(info.vendor) ?? null,
      architecture: info.architecture,
      description: info.description,
      isFallback: isFallback(adapter),
      subgroupMinSize: info.subgroupMinSize ?? 0,
      subgroupMaxSize: info.subgroupMaxSize ?? 0,
      features: [...adapter.features].sort(),
      limits,
    });
  }
  if (summaries.length === 0) {
    throw new UserError("No WebGPU adapter found", { hint: NO_ADAPTER_HINT, exitCode: 2 });
  }
  return summaries;
}

/**
 * The environment variable that, set to "1", opens devices with WebGPU's default limits (the
 * spec's "Limits" table: 256 invocations per workgroup, 16 KiB of workgroup memory, 128 MiB
 * storage bindings...) instead of the adapter's: the portable floor every kernel must run on.
 */
export const DEFAULT_LIMITS_ENV = "MNIST_DEFAULT_LIMITS";

function defaultLimitsFromEnv(): boolean {
  // Deno only: in a browser bundle of this module envVar finds no environment.
  return envVar(DEFAULT_LIMITS_ENV, '"1" or nothing') === "1";
}

/**
 * Opens a device on the adapter for `choice`, with the adapter's largest buffer and workgroup
 * limits, or with WebGPU's default limits when `defaultLimits` (by default: when
 * {@link DEFAULT_LIMITS_ENV} is "1"). Validation errors that escape an error scope and a lost
 * device are reported on stderr.
 */
export async function acquireGpu(
  choice: DeviceChoice = "auto",
  { timestamps = false, defaultLimits = defaultLimitsFromEnv() }: {
    timestamps?: boolean;
    /** Request no limits beyond the spec's defaults. */
    defaultLimits?: boolean;
  } = {},
): Promise<Gpu> {
  const adapter = await requestAdapter(choice);
  const requiredLimits: Record<string, number> = {};
  if (!defaultLimits) {
    for (const name of KEY_LIMITS) {
      requiredLimits[name] = adapter.limits[name];
    }
  }
  const useTimestamps = timestamps && adapter.features.has("timestamp-query");
  const requiredFeatures: GPUFeatureName[] = useTimestamps ? ["timestamp-query"] : [];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: "mnist" });
  } catch (error) {
    throw new UserError(`Cannot open a WebGPU device on "${adapterName(adapter)}": ${error}`, {
      exitCode: 2,
    });
  }
  const errors: string[] = [];
  device.addEventListener("uncapturederror", (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    if (errors.length === 0) console.error(`WebGPU error: ${error.message}`);
    errors.push(error.message);
  });
  let lost: string | undefined;
  device.lost.then((info) => {
    if (info.reason !== "destroyed") {
      lost = info.message;
      console.error(`WebGPU device lost: ${info.message}`);
    }
  });
  return {
    adapter,
    device,
    isCpu: isFallback(adapter),
    name: adapterName(adapter),
    timestamps: useTimestamps,
    checkErrors() {
      if (lost !== undefined) {
        throw new UserError(`The GPU device was lost: ${lost}`, {
          hint: "The driver reset the GPU (a timeout or another program); run the command again.",
        });
      }
      if (errors.length > 0) {
        throw new Error(`WebGPU reported ${errors.length} error(s); the first: ${errors[0]}`);
      }
    },
  };
}
