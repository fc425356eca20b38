import "../_setup.ts";
import assert from "node:assert/strict";
import { averageMetrics, avgAtK, greedyAccuracy } from "../../benchmarks/mod.ts";

Deno.test("greedyAccuracy() and avgAtK() count items and samples", () => {
  assert.deepEqual(greedyAccuracy([1, 0, 1, 1]), { value: 0.75, items: 4, samples: 1 });
  assert.deepEqual(avgAtK([[1, 0, 1, 1], [0, 0, 0, 1]]), { value: 0.5, items: 2, samples: 4 });
  assert.ok(Number.isNaN(greedyAccuracy([]).value));
  assert.throws(() => avgAtK([[1, 0], [1]]));
});

Deno.test("averageMetrics() gives the unweighted and the item-weighted mean", () => {
  const avg = averageMetrics({
    a: { value: 1, items: 10, samples: 1 },
    b: { value: 0, items: 30, samples: 1 },
    empty: { value: NaN, items: 0, samples: 1 },
  });
  assert.deepEqual(avg, { mean: 0.5, weighted: 0.25, benchmarks: 2, items: 40 });
});
