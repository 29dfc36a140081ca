/**
 * The training loop, top to bottom: build the network once, then for each epoch upload the
 * shuffled order, encode gather → forward → loss → backward → SGD for every batch (many batches
 * per command buffer, submitted without waiting), read the metrics back only when a log line is
 * due, validate, and save a checkpoint.
 */
import { UserError } from "../errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { KernelCache } from "../gpu/kernel.ts";
import { DataIter, type DataIterState } from "../data/dataset.ts";
import { type Checkpoint, saveCheckpoint } from "../nn/checkpoint.ts";
import type { ModelSpec } from "../nn/model.ts";
import { Network } from "../nn/network.ts";
import { buildSgd, type SgdOptions } from "../nn/optimizer.ts";
import { type Init, ParamStore } from "../nn/params.ts";
import { Rng } from "../random.ts";
import { Evaluator } from "./evaluate.ts";
import { Feeder, type HostSplit } from "./feeder.ts";
import { accuracy, type Metrics, MetricsReader } from "./metrics.ts";
import {
  batchLine,
  resetLine,
  savedLine,
  startLine,
  timeCostLine,
  validationLine,
} from "./speedometer.ts";
import { encode } from "../gpu/kernel.ts";
import { formatProfile, type ProfileItem, profileItems } from "./profile.ts";

/** Everything `train` needs. */
export interface TrainOptions {
  model: ModelSpec;
  train: HostSplit;
  test: HostSplit;
  /** Total epochs (a resumed run continues up to this many). */
  epochs: number;
  batchSize: number;
  sgd: Omit<SgdOptions, "rescaleGrad">;
  seed: number;
  init: Init;
  /** Log a Speedometer line every `frequent` batches. */
  frequent: number;
  /** `--limit`, recorded in the checkpoint so a resumed run uses the same samples. */
  limit?: number;
  /** Where to save the checkpoint every epoch. */
  save: string;
  /** Called after each checkpoint is written. */
  onSave?: (path: string) => Promise<void>;
  dataset: string;
  /** A checkpoint to continue from (weights, momentum, epoch, shuffle state). */
  resume?: Checkpoint;
  /** After training, time each kernel of a step with timestamp queries and log a table. */
  profile?: boolean;
  /** Receives each log line. */
  log: (line: string) => void;
}

/** The training settings a checkpoint records, which `--resume` starts from. */
export interface TrainingRecord extends Omit<SgdOptions, "rescaleGrad"> {
  epochs: number;
  batchSize: number;
  seed: number;
  init: Init;
  /** `--limit`, when the run used one. */
  limit?: number;
  trainSamples: number;
  testSamples: number;
}

/** What one epoch measured. */
export interface EpochResult {
  epoch: number;
  /** Seconds of training (validation excluded). */
  timeCost: number;
  samplesPerSec: number;
  validationAccuracy: number;
}

/** Batches encoded per command buffer between log lines. */
const STEPS_PER_SUBMIT = 50;

function checkFinite(m: Metrics, where: string, lr: number): void {
  if (m.nonFinite > 0 || !Number.isFinite(m.lossSum)) {
    throw new UserError(`Training diverged: the loss became NaN or infinite ${where}`, {
      hint: `Lower the learning rate, e.g. --lr ${lr / 10}.`,
    });
  }
}

/** Trains `options.model` and returns each epoch's figures. */
export async function train(gpu: Gpu, options: TrainOptions): Promise<EpochResult[]> {
  const { device } = gpu;
  const { model, batchSize: B, log } = options;
  const kernels = new KernelCache(device);
  const store = new ParamStore(device, model);
  const network = new Network(device, kernels, {
    model,
    store,
    B,
    train: true,
    target: gpu.isCpu ? "cpu" : "gpu",
  });

  const resume = options.resume;
  const iterState = resume?.meta.iterator as DataIterState | undefined;
  const iter = new DataIter({
    count: options.train.count,
    batchSize: B,
    shuffle: true,
    seed: options.seed,
    lastBatch: "pad",
    state: iterState,
  });
  if (resume) {
    store.load(resume.params);
    if (resume.momentum.size > 0) store.load(resume.momentum, store.momentum);
  } else {
    store.initialize(options.init, new Rng(options.seed ^ 0x5eed));
  }
  const firstEpoch = resume ? resume.meta.epoch + 1 : 0;

  const batches = Math.ceil(options.train.count / B);
  const feeder = new Feeder(device, kernels, { split: options.train, network, batches });
  const evaluator = new Evaluator(device, kernels, { network, split: options.test });
  const metrics = new MetricsReader(device, network.stats);
  const sgd = buildSgd(device, kernels, store, { ...options.sgd, rescaleGrad: 1 / B });
  const pipelines = kernels.size;

  const results: EpochResult[] = [];
  log(startLine(gpu.isCpu));
  try {
    for (let epoch = firstEpoch; epoch < options.epochs; epoch++) {
      const order = iter.epoch();
      feeder.setOrder(order.indices);
      if (epoch === firstEpoch) {
        // Warm-up: drivers compile a pipeline on its first dispatch (llvmpipe takes a second for
        // the tiled kernels), which belongs to start-up, not to the first batches' speed. One
        // gather, forward and backward, no update: every buffer it writes is rewritten by the
        // first step, and the metrics are cleared below.
        const warm = device.createCommandEncoder({ label: "warm-up" });
        const pass = warm.beginComputePass({ label: "warm-up" });
        feeder.encodeGather(pass, 0);
        network.encodeForward(pass);
        network.encodeBackward(pass);
        pass.end();
        device.queue.submit([warm.finish()]);
      }
      metrics.clear();
      await device.queue.onSubmittedWorkDone();
      const tic = performance.now();
      let mark = tic;
      let markBatch = 0;
      let encoder = device.createCommandEncoder({ label: "train" });
      let pass = encoder.beginComputePass({ label: "train.steps" });
      let inPass = 0;
      for (let i = 0; i < batches; i++) {
        feeder.encodeGather(pass, i);
        network.encodeForward(pass);
        network.encodeBackward(pass);
        encode(pass, sgd);
        inPass++;
        const nbatch = i + 1;
        if (nbatch % options.frequent === 0) {
          pass.end();
          const m = await metrics.readAndClear(encoder);
          gpu.checkErrors();
          checkFinite(m, `in epoch ${epoch}, batch ${nbatch}`, options.sgd.lr);
          const now = performance.now();
          const speed = ((nbatch - markBatch) * B) / ((now - mark) / 1000);
          log(batchLine({ epoch, batch: nbatch, speed, metric: "accuracy", value: accuracy(m) }));
          [mark, markBatch] = [now, nbatch];
          encoder = device.createCommandEncoder({ label: "train" });
          pass = encoder.beginComputePass({ label: "train.steps" });
          inPass = 0;
        } else if (inPass === STEPS_PER_SUBMIT) {
          pass.end();
          device.queue.submit([encoder.finish()]);
          encoder = device.createCommandEncoder({ label: "train" });
          pass = encoder.beginComputePass({ label: "train.steps" });
          inPass = 0;
        }
      }
      pass.end();
      const tail = await metrics.readAndClear(encoder);
      gpu.checkErrors();
      checkFinite(tail, `in epoch ${epoch}`, options.sgd.lr);
      const timeCost = (performance.now() - tic) / 1000;
      log(resetLine(epoch));
      log(timeCostLine(epoch, timeCost));

      // MXNet's order: the epoch-end checkpoint callback runs before validation.
      const checkpoint: Checkpoint = {
        meta: {
          model,
          epoch,
          dataset: options.dataset,
          iterator: iter.state(),
          training: {
            epochs: options.epochs,
            batchSize: B,
            ...options.sgd,
            seed: options.seed,
            init: options.init,
            limit: options.limit,
            trainSamples: options.train.count,
            testSamples: options.test.count,
          } satisfies TrainingRecord,
        },
        params: await store.download(),
        momentum: await store.download(store.momentum),
      };
      await saveCheckpoint(options.save, checkpoint);
      await options.onSave?.(options.save);
      log(savedLine(options.save));

      const { metrics: val } = await evaluator.run();
      gpu.checkErrors();
      checkFinite(val, `on the validation set after epoch ${epoch}`, options.sgd.lr);
      const validationAccuracy = accuracy(val);
      log(validationLine(epoch, "accuracy", validationAccuracy));
      if (kernels.size !== pipelines) {
        throw new Error(`Pipelines were created inside the training loop (${kernels.size})`);
      }
      // Record the accuracy in the checkpoint too (for eval and predict to show).
      checkpoint.meta.accuracy = validationAccuracy;
      await saveCheckpoint(options.save, checkpoint);
      results.push({
        epoch,
        timeCost,
        samplesPerSec: (batches * B) / timeCost,
        validationAccuracy,
      });
    }
    if (options.profile) {
      if (!gpu.timestamps) {
        log("Profile unavailable: this adapter has no timestamp-query feature.");
      } else {
        const items: ProfileItem[] = [
          { label: "gather", encode: (pass) => feeder.encodeGather(pass, 0) },
          ...network.layers.flatMap((layer) =>
            layer.forward.map((d) => ({
              label: `${layer.name} ${d.kernel.label}`,
              encode: (pass: GPUComputePassEncoder) => encode(pass, d),
            }))
          ),
          {
            label: `loss ${network.loss.kernel.label}`,
            encode: (pass) => encode(pass, network.loss),
          },
          ...[...network.layers].reverse().flatMap((layer) =>
            layer.backward.map((d) => ({
              label: `${layer.name} ${d.kernel.label}`,
              encode: (pass: GPUComputePassEncoder) => encode(pass, d),
            }))
          ),
          { label: `update ${sgd.kernel.label}`, encode: (pass) => encode(pass, sgd) },
        ];
        const rows = await profileItems(device, items);
        gpu.checkErrors();
        log(formatProfile(rows, `GPU time per training step (batch ${B}, ${gpu.name}):`));
      }
    }
  } finally {
    evaluator.destroy();
    feeder.destroy();
    metrics.destroy();
    network.destroy();
    store.destroy();
  }
  return results;
}
