/**
 * The training loop, top to bottom: build the network once, then for each epoch upload the
 * shuffled order, encode gather → forward → loss → backward → update (the optimizer's: SGD, NAG,
 * Adam or AdamW) for every batch (many batches per command buffer, submitted without waiting),
 * read the metrics back only when log lines are due (several together when they come fast),
 * validate, and save a checkpoint.
 */
import { UserError } from "../errors.ts";
import { formatBytes } from "../fs.ts";
import type { Gpu } from "../gpu/device.ts";
import { countDispatches, type Dispatch, encode, KernelCache } from "../gpu/kernel.ts";
import { DataIter, type DataIterState, releaseImages } from "../data/dataset.ts";
import { type Checkpoint, saveCheckpoint } from "../nn/checkpoint.ts";
import type { ModelSpec } from "../nn/model.ts";
import type { Layer } from "../nn/layer.ts";
import { Network } from "../nn/network.ts";
import { Optimizer, type OptimizerOptions } from "../nn/optimizer.ts";
import { type Init, ParamStore } from "../nn/params.ts";
import { Rng } from "../random.ts";
import { Evaluator } from "./evaluate.ts";
import { Feeder, type HostSplit } from "./feeder.ts";
import {
  accuracy,
  IntervalLog,
  type IntervalReading,
  type MetricName,
  type Metrics,
  metricValues,
} from "./metrics.ts";
import { LrSchedule, type Schedule } from "./schedule.ts";
import { type DatasetPart, recordParts } from "./trained_on.ts";
import { mark as traceMark } from "../trace.ts";
import {
  batchLines,
  pyExp,
  resetLine,
  savedLine,
  startLine,
  timeCostLine,
  updateLine,
  validationLines,
} from "./speedometer.ts";
import { formatProfile, type ProfileItem, profileItems } from "./profile.ts";
import {
  chooseKernels,
  formatChoice,
  type KernelChoice,
  type KernelMode,
  recordChoice,
  type RecordedKernels,
} from "./autotune.ts";

/** Everything `train` needs. */
export interface TrainOptions {
  /** The network to build: its layers, input (C, H, W) and classes (see src/nn/model.ts). */
  model: ModelSpec;
  /** The training split (its first `--limit` samples), shuffled anew each epoch. */
  train: HostSplit;
  /**
   * The validation split, scored whole after every epoch: the test split's first `--limit`
   * samples, or with `validation: "holdout:N"` the last N of the training samples (which `train`
   * then leaves out).
   */
  validationSplit: HostSplit;
  /**
   * What `validationSplit` is, recorded in the checkpoint: "test" (the default) or "holdout:N"
   * (the last N training samples after `--limit`, never trained on).
   */
  validation?: string;
  /**
   * `--augment`: distort each training image by a random affine map in the gather (see
   * kernels/gather.wgsl), keyed by (`seed`, epoch, sample): a resumed run draws the same ones.
   */
  augment?: boolean;
  /** Total epochs (a resumed run continues up to this many). */
  epochs: number;
  /**
   * Samples per batch, B. An epoch's last partial batch is filled up to B with the first samples
   * of that epoch's order, as MXNet's `last_batch_handle='pad'` does: those samples are trained
   * on a second time that epoch (they get gradient, the batch's mean taken over all B) and count
   * in the Train-accuracy and Speedometer figures like any other. Validation excludes its padding
   * (see `evaluate.ts`).
   */
  batchSize: number;
  /** The optimizer (sgd, nag, adam, adamw) and its settings; `lr` is the base rate. */
  optimizer: Omit<OptimizerOptions, "rescaleGrad">;
  /** The learning-rate schedule (default constant). */
  schedule?: Schedule;
  /** Seeds each epoch's shuffle and, XORed with 0x5eed, the weight initialisation. */
  seed: number;
  /** How fresh weights are drawn (`--init`); unused when resuming. */
  init: Init;
  /** Log a Speedometer line every `frequent` batches. */
  frequent: number;
  /**
   * `--metric`: what the Speedometer and validation lines report, one line each, in this order
   * (MXNet's `eval_metric`; default ["accuracy"]).
   */
  metrics?: readonly MetricName[];
  /** `--limit`, recorded in the checkpoint so a resumed run uses the same samples. */
  limit?: number;
  /** Where to save the checkpoint every epoch (with `saveBest`, every epoch that improves). */
  save: string;
  /**
   * Keras's ModelCheckpoint(save_best_only=True): write the checkpoint only after an epoch whose
   * validation accuracy is higher than the best so far in this run (the first epoch always; a
   * resumed run that saves over its checkpoint (`savesOverResume`) starts from that
   * checkpoint's recorded accuracy, where it was measured on the same validation samples). `save` is then always exactly the checkpoint of the best
   * epoch, written after its validation: weights, optimizer and iterator state, and record, so
   * resuming from it goes on as the run did from that epoch. Recorded in the checkpoint.
   */
  saveBest?: boolean;
  /**
   * Keras's EarlyStopping(patience=N), N >= 1: end the run, normally, after N epochs in a row
   * without a higher validation accuracy (see `TrainResult.stoppedEarly`). Implies `saveBest`.
   * Recorded in the checkpoint.
   */
  earlyStop?: number;
  /**
   * `save` is the file `resume` was read from: under `saveBest`, an epoch must beat its recorded
   * accuracy to replace it (Keras's `initial_value_threshold`). Elsewhere the first epoch saves.
   */
  savesOverResume?: boolean;
  /** Called after each checkpoint is written. */
  onSave?: (path: string) => Promise<void>;
  /** The dataset's name ("mnist" or "fashion"), recorded in the checkpoint. */
  dataset: string;
  /** A checkpoint to continue from (weights, momentum, epoch, shuffle state). */
  resume?: Checkpoint;
  /** After training, time each kernel of a step with timestamp queries and log a table. */
  profile?: boolean;
  /**
   * Which kernels to train with (default "auto": on GPUs, timed per layer, or as the resumed
   * run chose on this adapter).
   */
  kernels?: KernelMode;
  /**
   * Free the pixels of `train` and `validationSplit` once they are on the GPU (`releaseImages`:
   * every view of their buffers is emptied): `mnist train` needs them no more, and they are 55 MB
   * of host memory. Off by default, for callers that use the splits afterwards.
   */
  releaseData?: boolean;
  /** Receives each log line. */
  log: (line: string) => void;
  /**
   * Receives each note for the user that is not MXNet's log (default `console.error`: stderr);
   * one so far, before the first epoch: a resumed run given a schedule with steps before its
   * first epoch, which start it at a lower rate than `optimizer.lr`.
   */
  note?: (line: string) => void;
  /**
   * Hears how far each epoch and each validation has got, after every submit (for a progress
   * bar). Given, it also makes an epoch's submits smaller: at least `PROGRESS_STEPS` an epoch.
   */
  onProgress?: (progress: TrainProgress) => void;
  /**
   * Read log lines back at least this often, in ms (default 1000); 0 reads each as it comes.
   * Lines that come faster are read together, with speeds from GPU timestamps.
   */
  readEveryMs?: number;
  /**
   * Each layer's variant (see src/nn/variants.ts), instead of choosing them by `kernels`: tests
   * train with the GPU kernels on a CPU adapter. Recorded in the checkpoint as asked for.
   */
  variants?: readonly string[];
}

/** The training settings a checkpoint records, which `--resume` starts from. */
export interface TrainingRecord extends Omit<OptimizerOptions, "rescaleGrad"> {
  /** The learning-rate schedule, when not constant. */
  schedule?: Schedule;
  /** Updates made from the start of training to this checkpoint (MXNet's num_update). */
  updates?: number;
  /**
   * The update after which the optimizer's state began, where a resumed run changed optimizer
   * and started it afresh (Adam's t counts from there); absent: 0, the start of training.
   */
  stateFrom?: number;
  /** Total epochs the run was asked for (`--epochs`). */
  epochs: number;
  /**
   * What each part of the training was on, in order, where a resumed run changed dataset
   * (`trained_on.ts`); absent: every epoch on the checkpoint's `dataset`.
   */
  datasets?: DatasetPart[];
  /** Samples per batch (`--batch-size`). */
  batchSize: number;
  /** `--seed`, of the initialisation and the shuffle (resumed: the iterator state goes on). */
  seed: number;
  /**
   * `--init`, how the run's first weights were drawn; absent where they came from a plain file
   * (a PyTorch state dict that `--resume` started from).
   */
  init?: Init;
  /** `--limit`, when the run used one. */
  limit?: number;
  /** `--frequent`: batches per Speedometer line, which `--resume` keeps. */
  frequent?: number;
  /** `--metric`, when not the default ["accuracy"]; `--resume` keeps it. */
  metrics?: MetricName[];
  /** Samples in the training split the run used (after `--limit`), padding excluded. */
  trainSamples: number;
  /** Samples in the validation split the run used (after `--limit`). */
  testSamples: number;
  /**
   * `--validation`: "test" (the test split) or "holdout:N" (the last N training samples after
   * `--limit`, never trained on); absent in checkpoints from before it, which used "test".
   */
  validation?: string;
  /**
   * `--augment`, when on. Its random state is `seed` and the epoch: the distortions are a hash of
   * (seed, epoch, sample), so nothing more is saved for `--resume` to draw the same ones.
   */
  augment?: boolean;
  /**
   * The kernels a run chose by timing (GPUs) or was given with --kernels; a run resumed on the
   * same adapter keeps them, so that it computes exactly what the uninterrupted run would have.
   */
  kernels?: RecordedKernels;
  /** `saveBest`, when on: the checkpoint is written only after an epoch that improves. */
  saveBest?: boolean;
  /** `earlyStop`, when set: the patience, in epochs without improvement. */
  earlyStop?: number;
}

/**
 * How far an epoch's training or its validation has got, in samples (padding excluded). `done`
 * counts what has been submitted to the GPU, with no readback of its own: on a CPU adapter that
 * is at most one submit ahead of the GPU (there Deno's `queue.submit` waits for the previous
 * submission to run); on a GPU, whose submits do not wait, at most the work between two
 * readbacks (log lines are read back every `frequent` batches, or about once a second when they
 * come faster). The last batches of an epoch or a validation are always read back before they
 * are reported, so `done === total` means finished.
 */
export interface TrainProgress {
  /**
   * An epoch's training batches, or the validation that follows them; or, before the first
   * epoch, the warm-up pass, in which drivers compile each kernel at its first dispatch
   * (llvmpipe: 8 s for the MLP, 16 s for LeNet when its shader cache is cold,
   * docs/llvmpipe-kernels.md), reported once, with
   * `done` and `total` 0.
   */
  phase: "warm-up" | "train" | "validate";
  /** 0-based, as MXNet's log counts. */
  epoch: number;
  /** Epochs in all. */
  epochs: number;
  /** Samples submitted so far (see above), 0..`total`. */
  done: number;
  /** Samples in the phase's split: the training split's, or the validation split's. */
  total: number;
}

/** What one epoch measured. */
export interface EpochResult {
  /** 0-based, as MXNet's log counts. */
  epoch: number;
  /** Seconds of training (validation excluded). */
  timeCost: number;
  /** Training samples per second: batches × B / `timeCost`, the last batch's padding included. */
  samplesPerSec: number;
  /** Fraction (0..1) of the validation split classified correctly after this epoch. */
  validationAccuracy: number;
  /**
   * How many validation samples the network predicted as each class: (classes). A run whose
   * predictions pile onto one class has learned nothing, whatever its accuracy.
   */
  predictedCounts: number[];
}

/** The epoch of highest validation accuracy so far, under `saveBest` or `earlyStop`. */
export interface BestEpoch {
  /** 0-based; a resumed checkpoint's own epoch when none of this run's beat it. */
  epoch: number;
  /** Its validation accuracy (0..1). */
  accuracy: number;
}

/**
 * What `train` returns: each epoch's figures, in order; and, under `saveBest` or `earlyStop`,
 * which epoch the checkpoint holds and whether the run stopped early.
 */
export type TrainResult = EpochResult[] & {
  /**
   * Under `saveBest` or `earlyStop`: the best epoch, the one `save` holds. When it is before
   * this run's first epoch (a resumed run none of whose epochs beat its checkpoint's accuracy),
   * this run wrote nothing to `save`.
   */
  best?: BestEpoch;
  /**
   * Under `earlyStop`: set when the run stopped before `epochs`, after the epoch `after`, the
   * `patience`-th in a row without improvement.
   */
  stoppedEarly?: { after: number; patience: number };
};

/**
 * The stderr line for a run that stopped early (not an MXNet line: `mnist plot` would read an
 * `Epoch[E] ...=value` line as a metric), or undefined for one that did not.
 */
export function stoppedEarlyNote(result: TrainResult): string | undefined {
  const { stoppedEarly, best } = result;
  if (stoppedEarly === undefined || best === undefined) return undefined;
  const { after, patience } = stoppedEarly;
  return `note: stopped early after Epoch[${after}]: Validation-accuracy has not improved for ` +
    `${patience} epoch${patience === 1 ? "" : "s"} (best ${best.accuracy.toFixed(6)} at ` +
    `Epoch[${best.epoch}], which the checkpoint holds)`;
}

/** Batches encoded per command buffer between log lines. */
const STEPS_PER_SUBMIT = 50;
/**
 * With an `onProgress` listener, the fewest submits an epoch is split into, so that a bar moves
 * on small runs too (`--limit 6000`: 60 batches, 2 submits of up to 50 without it).
 */
const PROGRESS_STEPS = 20;
/**
 * Log lines are read back at least this often (ms). Each read stalls the GPU until everything
 * submitted has run plus Deno's ~10 ms poll, so where the adapter can time intervals itself and
 * lines come faster than this, several intervals are read in one go and their speeds come from
 * GPU timestamps; slower lines are read (and printed) as each comes.
 */
const READ_EVERY_MS = 1000;

/** The tutorial's learning rate, which trains both models (MXNet's `learning_rate=0.1`). */
const TUTORIAL_LR = 0.1;

function checkFinite(m: Metrics, where: string, lr: number): void {
  if (m.nonFinite > 0 || !Number.isFinite(m.lossSum)) {
    // A tenth of a rate far above the tutorial's still diverges or stalls at chance (--lr 50
    // → 5 gives 10%), so above it suggest the rate that is known to work.
    const lower = lr > TUTORIAL_LR ? TUTORIAL_LR : lr / 10;
    throw new UserError(`Training diverged: the loss became NaN or infinite ${where}`, {
      hint: `Lower the learning rate, e.g. --lr ${lower}${
        lr > TUTORIAL_LR ? " (the tutorial's)" : ""
      }.`,
    });
  }
}

/**
 * Checks the metrics of boundaries `first`, `first + 1`, ... of an epoch (boundary k ends batch
 * min(k · frequent, batches)) and logs a Speedometer line for each full interval; the epoch's
 * tail gets none. One interval read as it came is timed on the wall clock, as MXNet's
 * Speedometer does; several read together by their GPU timestamps, or without them by the
 * mean of the `elapsedMs` they took together.
 */
function logIntervals(
  reading: IntervalReading,
  { epoch, first, batches, frequent, B, elapsedMs, lr, metrics, log }: {
    epoch: number;
    first: number;
    batches: number;
    frequent: number;
    B: number;
    /** Since the previous read (or the epoch's start). */
    elapsedMs: number;
    lr: number;
    /** What each line reports: one Speedometer line per metric, as MXNet v0.9 prints them. */
    metrics: readonly MetricName[];
    log: (line: string) => void;
  },
): void {
  const count = reading.metrics.length;
  const meanMs = elapsedMs / count;
  reading.metrics.forEach((m, j) => {
    const k = first + j;
    const full = k * frequent <= batches;
    checkFinite(m, `in epoch ${epoch}${full ? `, batch ${k * frequent}` : ""}`, lr);
    if (!full) return;
    const gpuMs = reading.gpuMs?.[j] ?? meanMs;
    const ms = count === 1 ? elapsedMs : gpuMs > 0 ? gpuMs : meanMs;
    const speed = (frequent * B) / (ms / 1000);
    const values = metricValues(m, metrics);
    for (const line of batchLines({ epoch, batch: k * frequent, speed, values })) log(line);
  });
}

/** How many of `predictions` are each class: (classes). */
function countClasses(predictions: Uint32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const p of predictions) counts[p]!++;
  return counts;
}

/** What a run builds once and every epoch uses: the network, its data and its update. */
interface Run {
  gpu: Gpu;
  options: TrainOptions;
  kernels: KernelCache;
  store: ParamStore;
  network: Network;
  /** The kernels chosen per layer, and the measurements behind the choice. */
  choice: KernelChoice;
  /** The choice as the checkpoint records it, if it records one. */
  chosen: RecordedKernels | undefined;
  iter: DataIter;
  feeder: Feeder;
  evaluator: Evaluator;
  /** The update, one dispatch per step of a submit, and its state. */
  optimizer: Optimizer;
  /** The rate of each update. */
  schedule: LrSchedule;
  /** Updates made before this run's first epoch (a resumed run's). */
  updatesBefore: number;
  /** The update after which the optimizer's state began (`TrainingRecord.stateFrom`). */
  stateFrom: number;
  intervals: IntervalLog;
  /** Batches per epoch (the last padded). */
  batches: number;
  /** The epoch this run starts at (after a resumed checkpoint's). */
  firstEpoch: number;
  /** Pipelines made before the loop; the loop must make none. */
  pipelines: number;
  /** Batches per submit (fewer with a progress listener). */
  stepsPerSubmit: number;
  /** Training steps encoded and command buffers submitted for them so far (`--profile`). */
  submitted: { steps: number; submits: number };
  /** How many log boundaries may pass between reads: one until an interval has been measured. */
  readEvery: number;
  progress: (phase: TrainProgress["phase"], epoch: number, done: number, total: number) => void;
}

/**
 * Set-up: the kernels per layer (on a GPU, whichever measure faster there, see autotune.ts, or
 * what the run being resumed chose on this adapter), the network, the parameters (initialised or
 * resumed), the data on the GPU, the update and the interval log.
 */
async function setUp(gpu: Gpu, options: TrainOptions): Promise<Run> {
  const { device } = gpu;
  const { model, batchSize: B } = options;
  const kernels = new KernelCache(device);
  const store = new ParamStore(device, model);
  const mode = options.kernels ?? "auto";
  const choice: KernelChoice = options.variants
    ? { variants: [...options.variants], rows: [] }
    : await chooseKernels(gpu, kernels, {
      model,
      store,
      B,
      mode,
      recorded: (options.resume?.meta.training as Partial<TrainingRecord> | undefined)?.kernels,
    });
  traceMark("train: kernels chosen");
  const explicit = mode !== "auto" || options.variants !== undefined;
  const chosen = recordChoice(choice, gpu.name, { explicit });
  const network = new Network(device, kernels, {
    model,
    store,
    B,
    train: true,
    variants: choice.variants,
    // Without --augment the first layer reads the batch itself where it can (one dispatch
    // fewer); the affine gather has to write the distorted images into x.
    gather: !options.augment,
  });
  traceMark("train: network built");

  const resume = options.resume;
  const iter = new DataIter({
    count: options.train.count,
    batchSize: B,
    shuffle: true,
    seed: options.seed,
    lastBatch: "pad",
    state: resume?.meta.iterator as DataIterState | undefined,
  });
  const batches = Math.ceil(options.train.count / B);
  const record = resume?.meta.training as Partial<TrainingRecord> | undefined;
  const updatesBefore = resume ? record?.updates ?? (resume.meta.epoch + 1) * batches : 0;
  // An optimizer's state means nothing to another one (SGD's and NAG's momentum is -lr·Σ grad,
  // decayed; Adam's m and v averages): a resumed run that changes optimizer starts it afresh.
  const keepState = resume !== undefined &&
    (record?.optimizer ?? "sgd") === (options.optimizer.optimizer ?? "sgd");
  // Adam's t counts the updates since its state began: at a change of optimizer, else where the
  // resumed run's state began (a second resume after a change goes on counting from the change).
  const stateFrom = keepState ? record?.stateFrom ?? 0 : updatesBefore;
  const optimizer = new Optimizer(device, kernels, {
    store,
    options: { ...options.optimizer, rescaleGrad: 1 / B },
    slots: STEPS_PER_SUBMIT,
    stateFrom,
  });
  if (resume) {
    store.load(resume.params);
    if (keepState && resume.momentum.size > 0) store.load(resume.momentum, store.momentum);
    if (keepState && optimizer.variance && resume.variance && resume.variance.size > 0) {
      store.load(resume.variance, optimizer.variance);
    }
  } else {
    store.initialize(options.init, new Rng(options.seed ^ 0x5eed));
  }

  traceMark("train: optimizer built, parameters set");
  const feeder = new Feeder(device, kernels, {
    split: options.train,
    network,
    batches,
    ...(options.augment ? { augment: { seed: options.seed } } : {}),
  });
  traceMark("train: training split uploaded");
  const evaluator = new Evaluator(device, kernels, { network, split: options.validationSplit });
  traceMark("train: validation split uploaded");
  if (options.releaseData) {
    // Both splits are on the GPU: the caller's host copies are freed (see releaseImages).
    releaseImages(options.train);
    releaseImages(options.validationSplit);
  }
  const pipelines = kernels.size;
  const { onProgress } = options;
  const firstEpoch = resume ? resume.meta.epoch + 1 : 0;
  // Epoch E starts after update updatesBefore + (E - firstEpoch) · batches, whatever batch count
  // the checkpoint's run had (a resumed run may change --batch-size or --limit).
  const schedule = new LrSchedule(options.schedule ?? { kind: "constant" }, {
    lr: options.optimizer.lr,
    batchesPerEpoch: batches,
    epochs: options.epochs,
    firstEpoch,
    updatesBefore,
  });
  notePassedSteps(schedule, { options, record, firstEpoch });
  const intervals = new IntervalLog(device, network.stats, {
    boundaries: Math.ceil(batches / options.frequent),
    timestamps: gpu.timestamps,
  });
  return {
    gpu,
    options,
    kernels,
    store,
    network,
    choice,
    chosen,
    iter,
    feeder,
    evaluator,
    optimizer,
    schedule,
    updatesBefore,
    stateFrom,
    intervals,
    batches,
    firstEpoch,
    pipelines,
    stepsPerSubmit: onProgress
      ? Math.min(STEPS_PER_SUBMIT, Math.ceil(batches / PROGRESS_STEPS))
      : STEPS_PER_SUBMIT,
    submitted: { steps: 0, submits: 0 },
    readEvery: 1,
    progress: (phase, epoch, done, total) =>
      onProgress?.({ phase, epoch, epochs: options.epochs, done, total }),
  };
}

/**
 * Says so when a resumed run's schedule, not the one its checkpoint recorded, has steps before
 * its first epoch: their changes apply from its first batch, where MXNet would have logged
 * each `Update[N]: Change learning rate` as it came, so the run starts at a lower rate than
 * `--lr` without a line on stdout.
 */
function notePassedSteps(
  schedule: LrSchedule,
  { options, record, firstEpoch }: {
    options: TrainOptions;
    record: Partial<TrainingRecord> | undefined;
    firstEpoch: number;
  },
): void {
  const passed = schedule.passed();
  const s = schedule.schedule;
  if (passed === undefined || s.kind !== "multifactor") return;
  const was = record?.schedule;
  const same = was?.kind === "multifactor" && was.factor === s.factor &&
    JSON.stringify(was.stepEpochs) === JSON.stringify(s.stepEpochs);
  if (same) return; // the checkpoint's run changed the rate at them, and logged it
  const many = passed.stepEpochs.length > 1;
  (options.note ?? console.error)(
    `note: --lr-step-epochs ${passed.stepEpochs.join(",")} ${many ? "are" : "is"} before ` +
      `Epoch[${firstEpoch}], where this resumed run starts: ` +
      (many ? `their changes (x ${s.factor} each) apply` : `its change (x ${s.factor}) applies`) +
      ` from its first batch, which trains at learning rate ${pyExp(passed.rate)}, not --lr ` +
      `${options.optimizer.lr}`,
  );
}

/**
 * Warm-up: drivers compile a pipeline on its first dispatch (llvmpipe takes a second for the
 * tiled kernels), which belongs to start-up, not to the first batches' speed. One gather,
 * forward and backward, no update: every buffer it writes is rewritten by the first step, and
 * the stats are cleared before the epoch.
 */
function warmUp(run: Run): void {
  const { device } = run.gpu;
  const warm = device.createCommandEncoder({ label: "warm-up" });
  const pass = warm.beginComputePass({ label: "warm-up" });
  run.feeder.encodeGather(pass, 0);
  run.network.encodeForward(pass);
  run.network.encodeBackward(pass);
  pass.end();
  device.queue.submit([warm.finish()]);
}

/**
 * One epoch of training: gather → forward → loss → backward → update per batch, up to
 * `stepsPerSubmit` batches a pass, a Speedometer line every `frequent` batches (read back
 * several at a time when they come fast). Returns the seconds it took.
 */
async function trainEpoch(run: Run, epoch: number): Promise<number> {
  const { gpu, options, feeder, network, intervals, batches } = run;
  const { device } = gpu;
  const { frequent, readEveryMs = READ_EVERY_MS, batchSize: B } = options;
  feeder.setOrder(run.iter.epoch().indices, { epoch });
  if (epoch === run.firstEpoch) {
    run.progress("warm-up", epoch, 0, 0);
    warmUp(run);
  }
  intervals.clearStats();
  await device.queue.onSubmittedWorkDone();
  if (epoch === run.firstEpoch) traceMark("train: warmed up");
  const tic = performance.now();
  let mark = tic;
  let markBatch = 0;
  // Boundary k ends batch min(k · frequent, batches); printed: the boundaries read so far.
  let printed = 0;
  let encoder = device.createCommandEncoder({ label: "train" });
  for (let start = 0; start < batches;) {
    // One pass of up to stepsPerSubmit batches, ending at the next boundary at the latest.
    const end = Math.min(
      start + run.stepsPerSubmit,
      (Math.floor(start / frequent) + 1) * frequent,
      batches,
    );
    const boundary = end % frequent === 0 || end === batches ? Math.ceil(end / frequent) : null;
    const pass = encoder.beginComputePass({
      label: "train.steps",
      timestampWrites: intervals.passWrites({ start: start === 0, end: boundary }),
    });
    // Each step's rate into its uniform slot (the previous submit has been queued already).
    const firstUpdate = run.updatesBefore + (epoch - run.firstEpoch) * batches + start + 1;
    const rates: number[] = [];
    for (let u = firstUpdate; u < firstUpdate + end - start; u++) {
      rates.push(run.schedule.rate(u));
      const changed = run.schedule.change(u);
      if (changed !== undefined) options.log(updateLine(u, changed));
    }
    run.optimizer.writeSteps(firstUpdate, rates);
    for (let i = start; i < end; i++) {
      feeder.encodeGather(pass, i);
      network.encodeForward(pass);
      network.encodeBackward(pass);
      encode(pass, run.optimizer.dispatch(i - start));
    }
    pass.end();
    run.submitted.steps += end - start;
    run.submitted.submits += 1;
    start = end;
    if (boundary === null) {
      device.queue.submit([encoder.finish()]);
    } else {
      intervals.record(encoder, boundary);
      if (end < batches && boundary - printed < run.readEvery) {
        device.queue.submit([encoder.finish()]);
      } else {
        const reading = await intervals.read(encoder, { from: printed + 1, to: boundary });
        gpu.checkErrors();
        const now = performance.now();
        logIntervals(reading, {
          epoch,
          first: printed + 1,
          batches,
          frequent,
          B,
          elapsedMs: now - mark,
          lr: options.optimizer.lr,
          metrics: options.metrics ?? ["accuracy"],
          log: options.log,
        });
        // Lines this far apart are read together, so a read stalls at most every READ_EVERY_MS.
        const msPerBatch = (now - mark) / (end - markBatch);
        run.readEvery = intervals.timed
          ? Math.max(1, Math.floor(readEveryMs / (msPerBatch * frequent)))
          : 1;
        [mark, markBatch, printed] = [now, end, boundary];
      }
    }
    // Submitted, or read back (the epoch's last pass always is: then it is finished).
    const count = options.train.count;
    run.progress("train", epoch, Math.min(end * B, count), count);
    encoder = device.createCommandEncoder({ label: "train" });
  }
  return (performance.now() - tic) / 1000;
}

/** The checkpoint of `epoch` (weights, momentum, shuffle state, settings), not yet written. */
async function epochCheckpoint(run: Run, epoch: number): Promise<Checkpoint> {
  const { options, store } = run;
  const datasets = recordParts(options.resume?.meta, {
    dataset: options.dataset,
    epochs: epoch - run.firstEpoch + 1,
  });
  const checkpoint: Checkpoint = {
    meta: {
      model: options.model,
      epoch,
      dataset: options.dataset,
      iterator: run.iter.state(),
      training: {
        epochs: options.epochs,
        ...(datasets ? { datasets } : {}),
        batchSize: options.batchSize,
        ...options.optimizer,
        seed: options.seed,
        // A run from a plain file (PyTorch's) drew no weights: they were the file's.
        ...(options.resume !== undefined && options.resume.origin?.from !== "metadata"
          ? {}
          : { init: options.init }),
        limit: options.limit,
        frequent: options.frequent,
        ...(options.metrics && options.metrics.join() !== "accuracy"
          ? { metrics: [...options.metrics] }
          : {}),
        trainSamples: options.train.count,
        testSamples: options.validationSplit.count,
        validation: options.validation ?? "test",
        ...(options.augment ? { augment: true } : {}),
        ...(run.chosen ? { kernels: run.chosen } : {}),
        ...(run.schedule.schedule.kind !== "constant" ? { schedule: run.schedule.schedule } : {}),
        updates: run.updatesBefore + (epoch - run.firstEpoch + 1) * run.batches,
        ...(run.stateFrom > 0 ? { stateFrom: run.stateFrom } : {}),
        ...(options.saveBest ? { saveBest: true } : {}),
        ...(options.earlyStop !== undefined ? { earlyStop: options.earlyStop } : {}),
      } satisfies TrainingRecord,
    },
    params: await store.download(),
    momentum: await store.download(store.momentum),
    ...(run.optimizer.variance ? { variance: await store.download(run.optimizer.variance) } : {}),
  };
  return checkpoint;
}

/** Writes `checkpoint` to `save`, tells `onSave` and logs MXNet's "Saved checkpoint" line. */
async function writeCheckpoint(options: TrainOptions, checkpoint: Checkpoint): Promise<void> {
  await saveCheckpoint(options.save, checkpoint);
  await options.onSave?.(options.save);
  options.log(savedLine(options.save));
}

/**
 * The best so far when a `saveBest` run starts: the accuracy of the checkpoint it resumes from
 * and saves over (`savesOverResume`), where it was measured as this run measures (same dataset,
 * validation split and sample count), else none (the first epoch is then saved whatever its
 * accuracy).
 */
function startingBest(options: TrainOptions): BestEpoch | undefined {
  const { resume } = options;
  const record = resume?.meta.training as Partial<TrainingRecord> | undefined;
  if (!options.savesOverResume) return undefined;
  if (resume?.meta.accuracy === undefined || record === undefined) return undefined;
  const comparable = resume.meta.dataset === options.dataset &&
    (record.validation ?? "test") === (options.validation ?? "test") &&
    record.testSamples === options.validationSplit.count;
  return comparable ? { epoch: resume.meta.epoch, accuracy: resume.meta.accuracy } : undefined;
}

/** Validation after `epoch`: the accuracy on the validation split and the classes predicted. */
async function validate(
  run: Run,
  epoch: number,
): Promise<{ accuracy: number; predictedCounts: number[] }> {
  const { options } = run;
  const { metrics: val, predictions } = await run.evaluator.run({
    predictions: true,
    onProgress: options.onProgress &&
      ((done, total) => run.progress("validate", epoch, done, total)),
  });
  run.gpu.checkErrors();
  checkFinite(val, `on the validation set after epoch ${epoch}`, options.optimizer.lr);
  const validationAccuracy = accuracy(val);
  const values = metricValues(val, options.metrics ?? ["accuracy"]);
  for (const line of validationLines(epoch, values)) options.log(line);
  if (run.kernels.size !== run.pipelines) {
    throw new Error(`Pipelines were created inside the training loop (${run.kernels.size})`);
  }
  return {
    accuracy: validationAccuracy,
    predictedCounts: countClasses(predictions!, options.model.classes),
  };
}

/** `--profile`: each kernel of one step timed with timestamp queries, logged as a table. */
async function profileStep(run: Run): Promise<void> {
  const { gpu, network, feeder, options: { log, batchSize: B } } = run;
  const update = run.optimizer.dispatch(0);
  if (!gpu.timestamps) {
    log("Profile unavailable: this adapter has no timestamp-query feature.");
    return;
  }
  // A kernel that reads the batch itself needs the batch bound in its own pass.
  const item = (layer: Layer, d: Dispatch): ProfileItem => ({
    label: `${layer.name} ${d.kernel.label}`,
    encode: (pass: GPUComputePassEncoder) => {
      if (d.kernel.batch) feeder.encodeGather(pass, 0);
      encode(pass, d);
    },
  });
  const items: ProfileItem[] = [
    ...(feeder.dispatches
      ? [{ label: "gather", encode: (pass: GPUComputePassEncoder) => feeder.encodeGather(pass, 0) }]
      : []),
    ...network.layers.flatMap((layer) => layer.forward.map((d) => item(layer, d))),
    {
      label: `loss ${network.loss.kernel.label}`,
      encode: (pass) => encode(pass, network.loss),
    },
    ...[...network.layers].reverse().flatMap((layer) => layer.backward.map((d) => item(layer, d))),
    { label: `update ${update.kernel.label}`, encode: (pass) => encode(pass, update) },
  ];
  const rows = await profileItems(gpu.device, items);
  gpu.checkErrors();
  log(formatProfile(rows, `GPU time per training step (batch ${B}, ${gpu.name}):`));
  const { steps, submits } = run.submitted;
  const count = (d: { encode: (pass: GPUComputePassEncoder) => void }[]) =>
    countDispatches((pass) => d.forEach((item) => item.encode(pass)));
  log(
    `Dispatches per training step: ${count(items)}; command-buffer submits: ${submits} for ` +
      `${steps} steps (${(submits / Math.max(1, steps)).toFixed(3)} per step).`,
  );
  if (run.choice.rows.length > 0) {
    log(formatChoice(run.choice.rows, "Kernels chosen by timing each layer before training:"));
  }
}

/**
 * The save after an epoch's validation failed (a full disk): the checkpoint holds the epoch's
 * weights, from the save before validation, but not their validation accuracy, so eval and
 * `mnist models` show none and no run makes it the default. Says so in one line.
 */
export class AccuracyNotRecorded extends UserError {
  /**
   * `bytes`: the checkpoint's size, which rewriting it takes again beside it until the rename;
   * `noSpace`: the write failed for want of space (or quota).
   */
  constructor(
    readonly save: string,
    readonly epoch: number,
    readonly accuracy: number,
    readonly bytes: number,
    readonly noSpace: boolean,
    failure: UserError,
  ) {
    // The write's reason, without its `Cannot write checkpoint "path": `.
    const prefix = `Cannot write checkpoint "${save}": `;
    const reason = failure.message.startsWith(prefix)
      ? failure.message.slice(prefix.length)
      : failure.message;
    super(
      `${save} holds the weights of Epoch[${epoch}], saved before validation, but not their ` +
        `validation accuracy (${(accuracy * 100).toFixed(2)}%): rewriting it with the accuracy ` +
        `failed: ${reason}` +
        (noSpace ? ` (the rewrite needs ${formatBytes(bytes)} free beside it)` : ""),
      { hint: failure.hint, cause: failure },
    );
    this.name = "AccuracyNotRecorded";
  }
}

/**
 * Saves `checkpoint` again, now holding its validation accuracy; a failure is an
 * `AccuracyNotRecorded` (the weights are in the file from the save before validation).
 */
async function saveAccuracy(save: string, checkpoint: Checkpoint): Promise<void> {
  try {
    await saveCheckpoint(save, checkpoint);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    const cause = error.cause as { code?: string } | undefined;
    const noSpace = cause?.code === "ENOSPC" || cause?.code === "EDQUOT" ||
      /no space left|quota exceeded/i.test(error.message);
    const bytes = await Deno.stat(save).then((info) => info.size, () => 0);
    throw new AccuracyNotRecorded(
      save,
      checkpoint.meta.epoch,
      checkpoint.meta.accuracy ?? 0,
      bytes,
      noSpace,
      error,
    );
  }
}

/**
 * Trains `options.model` and returns each epoch's figures: set up, then per epoch train, save
 * the checkpoint (MXNet's order: the epoch-end callback runs before validation), validate, and
 * save again with the accuracy (for eval and predict to show). Under `saveBest` (or
 * `earlyStop`) the checkpoint is written once, after validation, and only when the epoch
 * improves on the best so far; `earlyStop` ends the run after that many epochs without.
 */
export async function train(gpu: Gpu, options: TrainOptions): Promise<TrainResult> {
  const { log, batchSize: B, earlyStop } = options;
  if (earlyStop !== undefined && !(Number.isSafeInteger(earlyStop) && earlyStop >= 1)) {
    throw new RangeError(`earlyStop must be an integer >= 1, got ${earlyStop}`);
  }
  const keepBest = options.saveBest === true || earlyStop !== undefined;
  const run = await setUp(gpu, options);
  const results: TrainResult = [];
  let best = keepBest ? startingBest(options) : undefined;
  /** Epochs in a row without improvement, under `keepBest`. */
  let waited = 0;
  log(startLine(gpu.isCpu));
  try {
    for (let epoch = run.firstEpoch; epoch < options.epochs; epoch++) {
      const timeCost = await trainEpoch(run, epoch);
      traceMark(`train: epoch ${epoch} trained`);
      log(resetLine(epoch));
      log(timeCostLine(epoch, timeCost));
      const checkpoint = await epochCheckpoint(run, epoch);
      if (!keepBest) await writeCheckpoint(options, checkpoint);
      const { accuracy, predictedCounts } = await validate(run, epoch);
      traceMark(`train: epoch ${epoch} validated`);
      checkpoint.meta.accuracy = accuracy;
      if (!keepBest) {
        await saveAccuracy(options.save, checkpoint);
      } else if (best === undefined || accuracy > best.accuracy) {
        await writeCheckpoint(options, checkpoint);
        best = { epoch, accuracy };
        waited = 0;
      } else {
        waited++;
      }
      results.push({
        epoch,
        timeCost,
        samplesPerSec: (run.batches * B) / timeCost,
        validationAccuracy: accuracy,
        predictedCounts,
      });
      if (earlyStop !== undefined && waited >= earlyStop && epoch + 1 < options.epochs) {
        results.stoppedEarly = { after: epoch, patience: earlyStop };
        break;
      }
    }
    if (best !== undefined) results.best = best;
    if (options.profile) await profileStep(run);
  } finally {
    run.evaluator.destroy();
    run.feeder.destroy();
    run.intervals.destroy();
    run.network.destroy();
    run.optimizer.destroy();
    run.store.destroy();
  }
  return results;
}
