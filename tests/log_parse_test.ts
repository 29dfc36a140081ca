import assert from "node:assert/strict";
import { metricsOf, parseMxnetLog } from "../src/train/log_parse.ts";

const FIXTURES = new URL("./fixtures/mxnet_logs/", import.meta.url);

function fixture(name: string): string {
  return Deno.readTextFileSync(new URL(name, FIXTURES));
}

/** The points of one curve as [x, value] pairs. */
function curve(
  log: ReturnType<typeof parseMxnetLog>,
  kind: "batch" | "epoch",
  phase: "train" | "validation",
  metric = "accuracy",
): [number, number][] {
  return log.points
    .filter((p) => p.kind === kind && p.phase === phase && p.metric === metric)
    .map((p) => [p.x, p.value]);
}

Deno.test("parseMxnetLog reads FeedForward's Speedometer and validation lines (mnist train)", () => {
  const log = parseMxnetLog(fixture("feedforward_mlp.log"));
  assert.equal(log.batchesPerEpoch, 600);
  assert.deepEqual(log.restarts, []);
  // 10 epochs × (3 Speedometer + reset + time cost + validation) lines.
  assert.equal(log.mxnetLines, 60);
  const batches = curve(log, "batch", "train");
  assert.equal(batches.length, 30);
  // Batch 200 of 600 in epoch 0 sits at a third of the first epoch.
  assert.deepEqual(batches[0], [200 / 600, 0.8145]);
  assert.deepEqual(batches[2], [1, 0.93005]);
  const validation = curve(log, "epoch", "validation");
  assert.equal(validation.length, 10);
  assert.deepEqual(validation[0], [1, 0.9318]);
  assert.deepEqual(validation[9], [10, 0.9765]);
  // mnist train logs no epoch-level Train- line.
  assert.deepEqual(curve(log, "epoch", "train"), []);
  assert.deepEqual(metricsOf(log.points), ["accuracy"]);
});

Deno.test("parseMxnetLog reads Module's Batch [a-b] ranges and Train-/Validation- epochs (Kaptain)", () => {
  const log = parseMxnetLog(fixture("module_lenet_kaptain.log"));
  // Ranges end at 500 in an epoch of 600 batches: the estimate is the largest logged.
  assert.equal(log.batchesPerEpoch, 500);
  const batches = curve(log, "batch", "train");
  assert.equal(batches.length, 50);
  assert.deepEqual(batches[0], [100 / 500, 0.114356]);
  assert.deepEqual(batches[6], [1 + 200 / 500, 0.2026]);
  assert.deepEqual(curve(log, "epoch", "train")[1], [2, 0.616617]);
  assert.deepEqual(curve(log, "epoch", "validation").at(-1), [10, 0.9877]);
  assert.equal(log.mxnetLines, 80);
});

Deno.test("parseMxnetLog reads Module's Batch [N] lines without a Train- prefix (MXNet 0.10)", () => {
  const log = parseMxnetLog(fixture("module_mlp_v0_10.log"));
  assert.equal(curve(log, "batch", "train").length, 25);
  assert.deepEqual(curve(log, "epoch", "train")[0], [1, 0.956566]);
  assert.deepEqual(curve(log, "epoch", "validation")[4], [5, 0.9772]);
});

Deno.test("parseMxnetLog reads a log whose separators are non-breaking spaces as the tabbed one", () => {
  const nbsp = fixture("feedforward_mlp_nbsp.log");
  assert.ok(nbsp.includes("\u00a0") && !nbsp.includes("\t"));
  assert.deepEqual(parseMxnetLog(nbsp), parseMxnetLog(fixture("feedforward_mlp.log")));
});

Deno.test("parseMxnetLog reads lines separated by runs of spaces, indented or after a timestamp", () => {
  const text = [
    "   INFO:root:Epoch[0] Batch [0-100]    Speed: 18437.78 samples/sec    accuracy=0.777228",
    "2017-03-01 10:00:01,123 Epoch[0] Batch [100-200]  Speed: 16814.68 samples/sec  accuracy=0.9",
    "# INFO:root:Epoch[0] Validation-accuracy=0.931800",
  ].join("\n");
  const log = parseMxnetLog(text);
  assert.deepEqual(log.points.map((p) => [p.kind, p.phase, p.batch, p.value]), [
    ["batch", "train", 100, 0.777228],
    ["batch", "train", 200, 0.9],
    ["epoch", "validation", undefined, 0.9318],
  ]);
});

Deno.test("parseMxnetLog reads every metric of a line: accuracy and cross-entropy", () => {
  const text = [
    "INFO:root:Epoch[0] Batch [200]\tSpeed: 1.00 samples/sec\tTrain-accuracy=0.912300" +
    "\tTrain-cross-entropy=0.281234",
    "INFO:root:Epoch[0] Batch [0-200]\tSpeed: 1.00 samples/sec\taccuracy=0.9\tcross-entropy=0.3",
    "INFO:root:Epoch[0] Validation-accuracy=0.950000",
    "INFO:root:Epoch[0] Validation-cross-entropy=0.190000",
  ].join("\n");
  const log = parseMxnetLog(text);
  assert.deepEqual(metricsOf(log.points), ["accuracy", "cross-entropy"]);
  // Both batch lines are batch 200 of epoch 0: the later one wins.
  assert.deepEqual(curve(log, "batch", "train", "cross-entropy"), [[1, 0.3]]);
  assert.deepEqual(curve(log, "epoch", "validation", "cross-entropy"), [[1, 0.19]]);
});

Deno.test("parseMxnetLog reads a resumed run appended to its log as one run", () => {
  const log = parseMxnetLog(fixture("feedforward_mlp_resumed.log"));
  assert.deepEqual(log.restarts, []);
  assert.deepEqual(curve(log, "epoch", "validation").map(([x]) => x), [1, 2, 3, 4]);
  assert.equal(curve(log, "batch", "train").length, 12);
});

Deno.test("parseMxnetLog keeps the later lines when a log starts again at an earlier epoch", () => {
  const run = (first: number, last: number, value: string) => {
    const lines = ["INFO:root:Start training with [cpu(0)]"];
    for (let e = first; e <= last; e++) {
      lines.push(
        `INFO:root:Epoch[${e}] Batch [10]\tSpeed: 1.00 samples/sec\tTrain-accuracy=${value}`,
      );
      lines.push(`INFO:root:Epoch[${e}] Validation-accuracy=${value}`);
    }
    return lines;
  };
  // Epochs 0-3, then a run resumed from the checkpoint of epoch 1 (it goes on at epoch 2).
  const log = parseMxnetLog([...run(0, 3, "0.5"), ...run(2, 4, "0.7")].join("\n"));
  assert.deepEqual(log.restarts, [{ line: 11, epoch: 2, dropped: 4 }]);
  assert.deepEqual(curve(log, "epoch", "validation"), [[1, 0.5], [2, 0.5], [3, 0.7], [4, 0.7], [
    5,
    0.7,
  ]]);
  // Without "Start training" lines (Module's logs), going back in epochs says the same.
  const moduleLog = [
    "Epoch[0] Batch [0-10]\tSpeed: 1 samples/sec\taccuracy=0.1",
    "Epoch[0] Train-accuracy=0.1",
    "Epoch[1] Batch [0-10]\tSpeed: 1 samples/sec\taccuracy=0.2",
    "Epoch[1] Train-accuracy=0.2",
    "Epoch[0] Batch [0-10]\tSpeed: 1 samples/sec\taccuracy=0.3",
    "Epoch[0] Train-accuracy=0.3",
  ].join("\n");
  const again = parseMxnetLog(moduleLog);
  assert.deepEqual(again.restarts, [{ line: 5, epoch: 0, dropped: 4 }]);
  assert.deepEqual(again.points.map((p) => p.value), [0.3, 0.3]);
  // The same epoch's batches again after its end: a new run of that epoch.
  const same = parseMxnetLog(
    moduleLog.split("\n").slice(0, 2).concat(
      "Epoch[0] Batch [0-10]\tSpeed: 1 samples/sec\taccuracy=0.4",
    ).join("\n"),
  );
  assert.deepEqual(same.restarts, [{ line: 3, epoch: 0, dropped: 2 }]);
  assert.deepEqual(same.points.map((p) => p.value), [0.4]);
});

Deno.test("parseMxnetLog places batch points with batchesPerEpoch when it is given", () => {
  const text = "Epoch[1] Batch [25]\tSpeed: 1 samples/sec\tTrain-accuracy=0.5";
  assert.equal(parseMxnetLog(text).points[0]!.x, 2);
  const given = parseMxnetLog(text, { batchesPerEpoch: 60 });
  assert.equal(given.batchesPerEpoch, 60);
  assert.equal(given.points[0]!.x, 1 + 25 / 60);
});

Deno.test("parseMxnetLog finds nothing in garbage, other tools' logs and empty text", () => {
  for (
    const text of [
      "",
      "\n\n",
      "hello world\nEpoch 1/10 - loss: 0.3 - acc: 0.9\n",
      "Epoch[0] 130718.95 samples/sec Train-Accuracy=0.1116167\nEpoch[0] Val-Accuracy=0.1135",
      "[Epoch 0] train accuracy=0.9",
      "\u0000\u0001PNG\u0000Epoch[",
      "Epoch[x] Validation-accuracy=0.5",
    ]
  ) {
    const log = parseMxnetLog(text);
    assert.equal(log.points.length, 0, JSON.stringify(text));
  }
  // Lines with an epoch but no value are MXNet's, though there is nothing to plot.
  const noValues = parseMxnetLog(
    "INFO:root:Epoch[0] Time cost=1.000\nEpoch[0] Resetting Data Iterator",
  );
  assert.deepEqual([noValues.points.length, noValues.mxnetLines], [0, 2]);
});

Deno.test("parseMxnetLog skips nan values but counts their lines", () => {
  const log = parseMxnetLog(
    "Epoch[0] Batch [10]\tSpeed: nan samples/sec\tTrain-accuracy=nan\n" +
      "Epoch[0] Validation-accuracy=0.098000",
  );
  assert.equal(log.mxnetLines, 2);
  assert.deepEqual(log.points.map((p) => p.value), [0.098]);
});

Deno.test("parseMxnetLog reads MXNet's oldest Iteration[N] lines and Windows line ends", () => {
  const log = parseMxnetLog(
    "INFO:root:Iteration[0] Train-accuracy=0.920833\r\nINFO:root:Iteration[0] Validation-accuracy=0.961100\r\n",
  );
  assert.deepEqual(log.points.map((p) => [p.phase, p.x, p.value, p.line]), [
    ["train", 1, 0.920833, 1],
    ["validation", 1, 0.9611, 2],
  ]);
});
