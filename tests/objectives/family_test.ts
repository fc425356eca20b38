import "../_setup.ts";
import assert from "node:assert/strict";
import { lossAndGradOf } from "../../core/loss.ts";
import { gradientsAgree, maxGradientDifference, seededRandom } from "../../core/theory.ts";
import { generalFamily } from "../../objectives/general_family.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import { negProbPower } from "../../objectives/neg_prob_power.ts";

const none: Record<string, never> = {};

Deno.test("generalFamily at alpha = 1 has the gradient of negProb", async () => {
  assert.ok(await gradientsAgree(generalFamily, { alpha: 1 }, negProb, none, 4));
  assert.ok((await maxGradientDifference(generalFamily, { alpha: 1 }, negProb, none, 4)) < 1e-6);
});

Deno.test("negProbPower has the gradient of generalFamily for the same alpha", async () => {
  for (const alpha of [0.3, 4]) {
    assert.ok(await gradientsAgree(negProbPower, { alpha }, generalFamily, { alpha }, 3));
  }
});

Deno.test("generalFamily approaches negLogProb as alpha -> 0", async () => {
  const random = seededRandom(5);
  const input = {
    logits: Array.from({ length: 4 }, () => Array.from({ length: 9 }, () => 6 * (random() - 0.5))),
    targets: [0, 3, 5, 8],
  };
  const nll = await lossAndGradOf(negLogProb, none, input);
  const gaps: number[] = [];
  for (const alpha of [1e-1, 1e-2, 1e-3, 1e-4]) {
    const gf = await lossAndGradOf(generalFamily, { alpha }, input);
    const gradGap = Math.max(
      ...gf.gradLogits.flat().map((g, i) => Math.abs(g - nll.gradLogits.flat()[i]!)),
    );
    gaps.push(Math.max(Math.abs(gf.loss - nll.loss) / nll.loss, gradGap));
  }
  for (let k = 1; k < gaps.length; k++) assert.ok(gaps[k]! < gaps[k - 1]!, `gaps ${gaps}`);
  assert.ok(gaps[3]! < 2e-3, `gap at alpha = 1e-4 is ${gaps[3]}`);
});

Deno.test("generalFamily.lossAt is finite for alpha = 10 at tiny p (exp(alpha log p))", () => {
  assert.ok(Number.isFinite(generalFamily.lossAt!(1e-30, { alpha: 10 })));
  assert.ok(Math.abs(generalFamily.lossAt!(1e-30, { alpha: 10 }) - 0.1) < 1e-12);
});
