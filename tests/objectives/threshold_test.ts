import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { lossAndGradOf, makeTokenView } from "../../core/loss.ts";
import type { BaseStatistics, Objective } from "../../core/plugin.ts";
import { thresholdedLogOneMinusProb } from "../../objectives/thresholded_log_one_minus_prob.ts";
import { thresholdedNegLogProb } from "../../objectives/thresholded_neg_log_prob.ts";
import { thresholdedNegProb } from "../../objectives/thresholded_neg_prob.ts";

const thresholded = [
  thresholdedNegLogProb,
  thresholdedNegProb,
  thresholdedLogOneMinusProb,
] as ReadonlyArray<Objective<unknown>>;

const base: BaseStatistics = { quantile: (q) => q / 200 };

Deno.test("thresholded objectives declare baseStatistics and resolve a percentile", () => {
  for (const objective of thresholded) {
    assert.equal(objective.needs?.baseStatistics, true);
    const resolved = objective.resolve!(
      { tau: { percentile: 40 }, keep: "below", epsilon: 1e-3 },
      base,
    ) as { tau: unknown; keep: string };
    assert.equal(resolved.tau, 0.2);
    assert.equal(resolved.keep, "below");
    const numeric = { tau: 0.3, keep: "above", epsilon: 1e-3 };
    assert.equal(objective.resolve!(numeric, base), numeric);
  }
});

Deno.test("thresholded perToken with an unresolved percentile throws naming the objective", () => {
  for (const objective of thresholded) {
    assert.throws(
      () =>
        tf.tidy(() => {
          const view = makeTokenView({
            logits: tf.zeros([1, 2, 5]) as tf.Tensor3D,
            targets: tf.zeros([1, 2], "int32") as tf.Tensor2D,
            mask: tf.ones([1, 2]) as tf.Tensor2D,
          });
          objective.perToken(view, { tau: { percentile: 50 }, keep: "above", epsilon: 1e-3 });
        }),
      (error: Error) =>
        error.message.includes(`"${objective.id}"`) && error.message.includes("percentile"),
    );
    assert.throws(() => objective.descentWeight!(0.5, { tau: { percentile: 5 }, keep: "above" }));
  }
});

Deno.test("the gate uses the current p with p >= tau kept (above) and p <= tau kept (below)", async () => {
  // Uniform logits over 4 tokens: p = 0.25 exactly at the threshold.
  const input = { logits: [[0, 0, 0, 0]], targets: [1] };
  for (const objective of thresholded) {
    const above = await lossAndGradOf(
      objective,
      { tau: 0.25, keep: "above", epsilon: 1e-3 },
      input,
    );
    const below = await lossAndGradOf(
      objective,
      { tau: 0.25, keep: "below", epsilon: 1e-3 },
      input,
    );
    assert.ok(above.gradLogits[0]!.some((g) => g !== 0), `${objective.id}: p = tau not kept above`);
    assert.ok(below.gradLogits[0]!.some((g) => g !== 0), `${objective.id}: p = tau not kept below`);
    const out = await lossAndGradOf(objective, { tau: 0.3, keep: "above", epsilon: 1e-3 }, input);
    assert.equal(out.loss, 0);
    assert.ok(
      out.gradLogits[0]!.every((g) => g === 0),
      `${objective.id}: gated token has gradient`,
    );
  }
});

Deno.test("the kept-token mean divides by the kept count, not the supervised count", async () => {
  // Position 0: p ≈ 0.97 (kept above 0.5); position 1: p = 0.25 (gated out).
  const input = { logits: [[5, 0, 0, 0], [0, 0, 0, 0]], targets: [0, 0] };
  const { loss } = await lossAndGradOf(thresholdedNegLogProb, { tau: 0.5, keep: "above" }, input);
  const p = Math.exp(5) / (Math.exp(5) + 3);
  assert.ok(Math.abs(loss - -Math.log(p)) < 1e-6, `loss ${loss}`);
});
