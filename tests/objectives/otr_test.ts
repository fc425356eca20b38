import "../_setup.ts";
import assert from "node:assert/strict";
import { lossAndGradOf } from "../../core/loss.ts";
import { softmax } from "../../core/theory.ts";
import { otr } from "../../objectives/otr.ts";

const logits = [[2.0, 0.5, -1.0, 0.0, 1.0]];

Deno.test("otr is marked experimental and deterministic given the seed", async () => {
  assert.equal(otr.experimental, true);
  const params = { samples: 6, temperature: 1, beta: 0.5 };
  const a = await lossAndGradOf(otr, params, { logits, targets: [1] });
  const b = await lossAndGradOf(otr, params, { logits, targets: [1] });
  assert.deepEqual(a, b);
});

Deno.test("otr at a tiny temperature samples the argmax: NLL when it is the target", async () => {
  const p = softmax(logits[0]!);
  const hit = await lossAndGradOf(otr, { samples: 4, temperature: 1e-3, beta: 0.5 }, {
    logits,
    targets: [0],
  });
  assert.ok(Math.abs(hit.loss - -Math.log(p[0]!)) < 1e-5, `loss ${hit.loss}`);
  hit.gradLogits[0]!.forEach((g, i) => {
    assert.ok(Math.abs(g - -((i === 0 ? 1 : 0) - p[i]!)) < 1e-5, `grad ${i}: ${g}`);
  });
  // The argmax (token 0) is a wrong sample: loss β·log π(0), gradient β(e_0 − p).
  const miss = await lossAndGradOf(otr, { samples: 4, temperature: 1e-3, beta: 0.5 }, {
    logits,
    targets: [2],
  });
  assert.ok(Math.abs(miss.loss - 0.5 * Math.log(p[0]!)) < 1e-5, `loss ${miss.loss}`);
  miss.gradLogits[0]!.forEach((g, i) => {
    assert.ok(Math.abs(g - 0.5 * ((i === 0 ? 1 : 0) - p[i]!)) < 1e-5, `grad ${i}: ${g}`);
  });
});

Deno.test("otr samples follow softmax(z / T): hit rate of the target is about p", async () => {
  const samples = 2000;
  for (const [temperature, target] of [[1, 1], [2, 0]] as const) {
    const p = softmax(logits[0]!.map((z) => z / temperature))[target]!;
    // β = 0: loss = −(hits/K)·log π(target), so hits/K = loss / −log π(target).
    const { loss } = await lossAndGradOf(otr, { samples, temperature, beta: 0 }, {
      logits,
      targets: [target],
    });
    const rate = loss / -Math.log(softmax(logits[0]!)[target]!);
    const se = Math.sqrt((p * (1 - p)) / samples);
    assert.ok(Math.abs(rate - p) < 4 * se, `T = ${temperature}: hit rate ${rate}, p ${p}`);
  }
});
