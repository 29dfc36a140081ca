/** What each part of a training was on: the record's `datasets`, kept across `--resume`. */
import assert from "node:assert/strict";
import { describeParts, recordParts, trainedOn } from "../src/train/trained_on.ts";

Deno.test("trainedOn() reads an older checkpoint, without parts, as all on its dataset", () => {
  assert.deepEqual(trainedOn({ dataset: "fashion", epoch: 2, training: { epochs: 3 } }), [
    { dataset: "fashion", epochs: 3 },
  ]);
  assert.deepEqual(trainedOn({ dataset: "mnist", epoch: 0 }), [{ dataset: "mnist", epochs: 1 }]);
  // No epoch completed (a plain file's -1): nothing trained.
  assert.deepEqual(trainedOn({ dataset: "mnist", epoch: -1 }), []);
});

Deno.test("trainedOn() keeps recorded parts only when they add up to the checkpoint", () => {
  const datasets = [{ dataset: "mnist", epochs: 2 }, { dataset: "fashion", epochs: 1 }];
  const meta = { dataset: "fashion", epoch: 2, training: { datasets } };
  assert.deepEqual(trainedOn(meta), datasets);
  // Parts that disagree with the checkpoint are not believed: its own dataset and epochs are.
  const alone = [{ dataset: "fashion", epochs: 3 }];
  assert.deepEqual(trainedOn({ ...meta, epoch: 5 }), [{ dataset: "fashion", epochs: 6 }]);
  assert.deepEqual(trainedOn({ ...meta, dataset: "mnist" }), [{ dataset: "mnist", epochs: 3 }]);
  for (const bad of [[], "mnist", [{ dataset: "mnist", epochs: 0 }, ...datasets], [null]]) {
    assert.deepEqual(trainedOn({ ...meta, training: { datasets: bad } }), alone, `${bad}`);
  }
});

Deno.test("recordParts() records parts only once a resumed run changes dataset", () => {
  const digits = { dataset: "mnist", epoch: 9 };
  // A fresh run, or one resumed on its own dataset: one part, nothing recorded.
  assert.equal(recordParts(undefined, { dataset: "mnist", epochs: 3 }), undefined);
  assert.equal(recordParts(digits, { dataset: "mnist", epochs: 2 }), undefined);
  // On another: the parts in order; then back, a third part; then on, the last part grows.
  const tuned = recordParts(digits, { dataset: "fashion", epochs: 1 });
  assert.deepEqual(tuned, [{ dataset: "mnist", epochs: 10 }, { dataset: "fashion", epochs: 1 }]);
  const meta = { dataset: "fashion", epoch: 10, training: { datasets: tuned } };
  const back = recordParts(meta, { dataset: "mnist", epochs: 2 });
  assert.deepEqual(back, [...tuned!, { dataset: "mnist", epochs: 2 }]);
  assert.deepEqual(recordParts(meta, { dataset: "fashion", epochs: 4 }), [
    { dataset: "mnist", epochs: 10 },
    { dataset: "fashion", epochs: 5 },
  ]);
  // The resumed checkpoint's record is not changed.
  assert.deepEqual(meta.training.datasets, [
    { dataset: "mnist", epochs: 10 },
    { dataset: "fashion", epochs: 1 },
  ]);
  assert.equal(
    describeParts(back!),
    "mnist, 10 epochs, then fashion, 1 epoch, then mnist, 2 epochs",
  );
});
