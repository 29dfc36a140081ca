/**
 * Learning-rate schedules as MXNet computes them (python/mxnet/lr_scheduler.py), as pure
 * functions of the update number, so that a resumed run's rates are the uninterrupted run's:
 *
 * - `multifactor`: MXNet's MultiFactorScheduler as its example trainer sets it up
 *   (example/image-classification/common/fit.py, `_get_lr_scheduler`: `--lr-factor F
 *   --lr-step-epochs 3,6`, steps at `epoch_size · epoch` updates): the rate is multiplied by
 *   `factor` once `num_update > step`, logging `Update[N]: Change learning rate to %0.5e`.
 * - `cosine`: MXNet's CosineScheduler without warm-up, from the base rate to `finalLr` over
 *   `max_update` (the run's updates): `final + (base - final) · (1 + cos(π · N / max)) / 2`.
 *   MXNet's CosineScheduler logs nothing, and neither does this one.
 *
 * Updates are counted from the start of training (the checkpoint's `updates`), and a resumed
 * run may have another batch count per epoch than the run it goes on from (`--batch-size` or
 * `--limit` changed): epoch E of a run resumed at `firstEpoch` after `updatesBefore` updates
 * starts after update `updatesBefore + (E - firstEpoch) · batchesPerEpoch`. A step at epoch E
 * falls there, at the first update of its epoch, and cosine's `max_update` is the run's last
 * update. For a fresh run, or a resumed one with the same batches, that is `E · epoch_size` and
 * `epochs · epoch_size`, as in MXNet.
 */

/** A run's schedule, as the training record stores it. */
export type Schedule =
  | { kind: "constant" }
  | { kind: "multifactor"; factor: number; stepEpochs: number[] }
  | { kind: "cosine"; finalLr: number };

/** The rate of each update of a run under a {@link Schedule}. */
export class LrSchedule {
  /** The schedule as given; the checkpoint records it when it is not constant. */
  readonly schedule: Schedule;
  readonly #lr: number;
  /** MultiFactor's steps, in updates. */
  readonly #steps: number[];
  /** Cosine's `max_update`. */
  readonly #maxUpdate: number;
  /** The run's first epoch (a resumed run's). */
  readonly #firstEpoch: number;

  /**
   * `lr`: the base rate; `batchesPerEpoch`: MXNet's `epoch_size`, this run's; `epochs`: the
   * run's total (cosine reaches its final rate at the run's last update); a resumed run's
   * `firstEpoch` and the `updatesBefore` it (default 0, a fresh run).
   */
  constructor(
    schedule: Schedule,
    { lr, batchesPerEpoch, epochs, firstEpoch = 0, updatesBefore = 0 }: {
      lr: number;
      batchesPerEpoch: number;
      epochs: number;
      firstEpoch?: number;
      updatesBefore?: number;
    },
  ) {
    this.schedule = schedule;
    this.#lr = lr;
    this.#firstEpoch = firstEpoch;
    // The update after which epoch `e` starts; for an epoch before `firstEpoch`, an update the
    // run has passed (its step applies from the run's first update on).
    const start = (e: number) => updatesBefore + (e - firstEpoch) * batchesPerEpoch;
    this.#steps = schedule.kind === "multifactor" ? schedule.stepEpochs.map(start) : [];
    this.#maxUpdate = start(epochs);
  }

  /** The rate of update `numUpdate` (1-based, MXNet's `num_update`). */
  rate(numUpdate: number): number {
    const s = this.schedule;
    switch (s.kind) {
      case "constant":
        return this.#lr;
      case "multifactor": {
        // Multiplied step by step in float64, as MXNet's `self.base_lr *= self.factor`.
        let lr = this.#lr;
        for (const step of this.#steps) if (numUpdate > step) lr *= s.factor;
        return lr;
      }
      case "cosine": {
        const n = Math.min(numUpdate, this.#maxUpdate);
        return s.finalLr +
          (this.#lr - s.finalLr) * (1 + Math.cos(Math.PI * n / this.#maxUpdate)) / 2;
      }
    }
  }

  /** The new rate when update `numUpdate` is one MXNet logs a change at, else undefined. */
  change(numUpdate: number): number | undefined {
    if (this.schedule.kind !== "multifactor") return undefined;
    return this.#steps.some((step) => numUpdate === step + 1) ? this.rate(numUpdate) : undefined;
  }

  /**
   * Multifactor's steps at epochs before the run's first (a resumed run's, given a schedule its
   * checkpoint did not have): their changes apply from the run's first update, which logs no
   * `Update[N]` line for them. Returns those epochs and the rate they make, or undefined.
   */
  passed(): { stepEpochs: number[]; rate: number } | undefined {
    const s = this.schedule;
    if (s.kind !== "multifactor") return undefined;
    const stepEpochs = s.stepEpochs.filter((e) => e < this.#firstEpoch);
    if (stepEpochs.length === 0) return undefined;
    let rate = this.#lr;
    for (const _ of stepEpochs) rate *= s.factor;
    return { stepEpochs, rate };
  }
}
