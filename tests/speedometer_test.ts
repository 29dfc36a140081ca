/**
 * Golden tests for MXNet's FeedForward log lines (src/train/speedometer.ts). The expected
 * strings are what MXNet v0.9's Python prints through `logging` with the default
 * `INFO:root:` prefix, from these format strings (python/mxnet/callback.py, model.py):
 *
 * - `'Start training with %s', str(ctx)`                  → `Start training with [gpu(0)]`
 * - `'Epoch[%d] Batch [%d]\tSpeed: %.2f samples/sec\tTrain-%s=%f'`
 * - `'Epoch[%d] Resetting Data Iterator'`
 * - `'Epoch[%d] Time cost=%.3f'`
 * - `'Epoch[%d] Validation-%s=%f'`
 *
 * With several metrics (`--metric acc,ce`, MXNet's CompositeEvalMetric) v0.9 loops
 * `for name, value in name_value` around the Speedometer's and the validation's format, so each
 * metric gets a line of its own; CrossEntropy's name is `cross-entropy` (metric.py).
 * - `'Saved checkpoint to \"%s\"'`
 *
 * Expected numbers below were printed by CPython's `%` formatting.
 */
import assert from "node:assert/strict";
import {
  batchLine,
  batchLines,
  pyFixed,
  resetLine,
  savedLine,
  startLine,
  timeCostLine,
  validationLine,
  validationLines,
} from "../src/train/speedometer.ts";

Deno.test("startLine() names gpu(0), or cpu(0) on a software adapter", () => {
  assert.equal(startLine(false), "INFO:root:Start training with [gpu(0)]");
  assert.equal(startLine(true), "INFO:root:Start training with [cpu(0)]");
});

Deno.test("batchLine() matches the Speedometer line of the tutorial's log", () => {
  assert.equal(
    batchLine({ epoch: 0, batch: 200, speed: 26279.17, metric: "accuracy", value: 0.11155 }),
    "INFO:root:Epoch[0] Batch [200]\tSpeed: 26279.17 samples/sec\tTrain-accuracy=0.111550",
  );
  assert.equal(
    batchLine({ epoch: 9, batch: 600, speed: 31337.4567, metric: "accuracy", value: 0.98765432 }),
    "INFO:root:Epoch[9] Batch [600]\tSpeed: 31337.46 samples/sec\tTrain-accuracy=0.987654",
  );
});

Deno.test("batchLine() prints whole numbers and extremes with fixed decimals", () => {
  assert.equal(
    batchLine({ epoch: 12, batch: 5, speed: 100, metric: "accuracy", value: 1 }),
    "INFO:root:Epoch[12] Batch [5]\tSpeed: 100.00 samples/sec\tTrain-accuracy=1.000000",
  );
  assert.equal(
    batchLine({ epoch: 0, batch: 1, speed: 0.004, metric: "accuracy", value: 0 }),
    "INFO:root:Epoch[0] Batch [1]\tSpeed: 0.00 samples/sec\tTrain-accuracy=0.000000",
  );
  // The metric name is printed as given (MXNet: `Train-%s`).
  assert.equal(
    batchLine({ epoch: 1, batch: 50, speed: 1234.5678, metric: "cross-entropy", value: 2.302585 }),
    "INFO:root:Epoch[1] Batch [50]\tSpeed: 1234.57 samples/sec\tTrain-cross-entropy=2.302585",
  );
});

Deno.test("batchLine() separates fields with tabs, not spaces", () => {
  const line = batchLine({ epoch: 0, batch: 200, speed: 1, metric: "accuracy", value: 0.5 });
  assert.deepEqual(line.split("\t"), [
    "INFO:root:Epoch[0] Batch [200]",
    "Speed: 1.00 samples/sec",
    "Train-accuracy=0.500000",
  ]);
});

Deno.test("resetLine() matches MXNet", () => {
  assert.equal(resetLine(0), "INFO:root:Epoch[0] Resetting Data Iterator");
  assert.equal(resetLine(19), "INFO:root:Epoch[19] Resetting Data Iterator");
});

Deno.test("timeCostLine() prints seconds with 3 decimals", () => {
  assert.equal(timeCostLine(0, 2.32), "INFO:root:Epoch[0] Time cost=2.320");
  assert.equal(timeCostLine(3, 12.34567), "INFO:root:Epoch[3] Time cost=12.346");
  assert.equal(timeCostLine(1, 0.0004), "INFO:root:Epoch[1] Time cost=0.000");
  assert.equal(timeCostLine(1, 75), "INFO:root:Epoch[1] Time cost=75.000");
});

Deno.test("validationLine() prints the metric with 6 decimals", () => {
  assert.equal(
    validationLine(0, { metric: "accuracy", value: 0.2768 }),
    "INFO:root:Epoch[0] Validation-accuracy=0.276800",
  );
  assert.equal(
    validationLine(9, { metric: "accuracy", value: 0.9781 }),
    "INFO:root:Epoch[9] Validation-accuracy=0.978100",
  );
  assert.equal(
    validationLine(2, { metric: "accuracy", value: 2 / 3 }),
    "INFO:root:Epoch[2] Validation-accuracy=0.666667",
  );
});

Deno.test("savedLine() quotes the path", () => {
  assert.equal(
    savedLine("mlp.safetensors"),
    'INFO:root:Saved checkpoint to "mlp.safetensors"',
  );
  assert.equal(
    savedLine("/home/u/.cache/mnist/models/mlp.safetensors"),
    'INFO:root:Saved checkpoint to "/home/u/.cache/mnist/models/mlp.safetensors"',
  );
  // Python's `%s` inside quotes does no escaping; neither do we.
  assert.equal(savedLine('a "b".st'), 'INFO:root:Saved checkpoint to "a "b".st"');
});

Deno.test("pyFixed() spells nan and inf as Python's %f does", () => {
  assert.equal(pyFixed(NaN), "nan");
  assert.equal(pyFixed(Infinity), "inf");
  assert.equal(pyFixed(-Infinity), "-inf");
  assert.equal(pyFixed(NaN, 2), "nan");
  assert.equal(pyFixed(Infinity, 3), "inf");
  assert.equal(
    batchLine({ epoch: 0, batch: 10, speed: Infinity, metric: "accuracy", value: NaN }),
    "INFO:root:Epoch[0] Batch [10]\tSpeed: inf samples/sec\tTrain-accuracy=nan",
  );
  assert.equal(
    validationLine(0, { metric: "accuracy", value: NaN }),
    "INFO:root:Epoch[0] Validation-accuracy=nan",
  );
});

Deno.test("pyFixed() defaults to 6 decimals and rounds like Python off ties", () => {
  // Each expected string is CPython's `'%.Nf' % x`.
  const cases: [number, number, string][] = [
    [0.11155, 6, "0.111550"],
    [0.1234565, 6, "0.123456"], // 0.12345649999999999680 in binary: below the tie
    [1 / 3, 6, "0.333333"],
    [0.9999996, 6, "1.000000"],
    [26279.165, 2, "26279.17"], // 26279.16500000000087 in binary
    [2.3205, 3, "2.321"], // 2.32050000000000000711 in binary
    [2.675, 2, "2.67"], // 2.67499999999999982236 in binary
    [1.005, 2, "1.00"], // 1.00499999999999989342 in binary
    [-1.5, 3, "-1.500"],
    [-0.0001, 3, "-0.000"],
    [123456789.123, 2, "123456789.12"],
    [0, 6, "0.000000"],
  ];
  for (const [x, digits, expected] of cases) {
    assert.equal(pyFixed(x, digits), expected, `pyFixed(${x}, ${digits})`);
  }
  assert.equal(pyFixed(0.5), "0.500000");
});

Deno.test({
  name: "pyFixed() rounds exact binary ties half to even, as CPython",
  fn() {
    const cases: [number, number, string][] = [
      [0.125, 2, "0.12"],
      [0.375, 2, "0.38"],
      [0.0078125, 6, "0.007812"], // 1/128: Train-accuracy of 1 right out of 128
      [0.0234375, 6, "0.023438"], // 3/128
      [0.0625, 3, "0.062"], // a Time cost
      [2.5, 0, "2"],
      [-0, 6, "-0.000000"],
      [1e21, 2, "1000000000000000000000.00"],
    ];
    for (const [x, digits, expected] of cases) {
      assert.equal(pyFixed(x, digits), expected, `pyFixed(${x}, ${digits})`);
    }
  },
});

Deno.test("batchLines() logs one Speedometer line per metric, as MXNet v0.9's composite metric", () => {
  const values = [
    { metric: "accuracy", value: 0.9123 },
    { metric: "cross-entropy", value: 0.2812341 },
  ];
  assert.deepEqual(batchLines({ epoch: 0, batch: 200, speed: 18200.1649, values }), [
    "INFO:root:Epoch[0] Batch [200]\tSpeed: 18200.16 samples/sec\tTrain-accuracy=0.912300",
    "INFO:root:Epoch[0] Batch [200]\tSpeed: 18200.16 samples/sec\tTrain-cross-entropy=0.281234",
  ]);
  assert.deepEqual(
    batchLines({
      epoch: 3,
      batch: 10,
      speed: 512,
      values: [{ metric: "cross-entropy", value: 27.631021115928547 }],
    }),
    ["INFO:root:Epoch[3] Batch [10]\tSpeed: 512.00 samples/sec\tTrain-cross-entropy=27.631021"],
  );
});

Deno.test("validationLines() logs one Validation line per metric, in the metrics' order", () => {
  const values = [
    { metric: "accuracy", value: 0.9318 },
    { metric: "cross-entropy", value: 0.19 },
  ];
  assert.deepEqual(validationLines(0, values), [
    "INFO:root:Epoch[0] Validation-accuracy=0.931800",
    "INFO:root:Epoch[0] Validation-cross-entropy=0.190000",
  ]);
  assert.deepEqual(validationLines(7, values.slice(1)), [
    "INFO:root:Epoch[7] Validation-cross-entropy=0.190000",
  ]);
});
