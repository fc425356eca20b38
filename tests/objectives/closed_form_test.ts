import "../_setup.ts";
import assert from "node:assert/strict";
import { type LossAndGradInput, lossAndGradOf } from "../../core/loss.ts";
import type { Objective } from "../../core/plugin.ts";
import { seededRandom, softmax } from "../../core/theory.ts";
import { paperForms } from "../../objectives/_paper_forms.ts";
import { anchored } from "../../objectives/anchored.ts";
import { deft } from "../../objectives/deft.ts";
import { dft } from "../../objectives/dft.ts";
import { focal } from "../../objectives/focal.ts";
import { generalFamily } from "../../objectives/general_family.ts";
import { gft } from "../../objectives/gft.ts";
import { huberProb } from "../../objectives/huber_prob.ts";
import { logOneMinusProb } from "../../objectives/log_one_minus_prob.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import { negProbPower } from "../../objectives/neg_prob_power.ts";
import { thresholdedLogOneMinusProb } from "../../objectives/thresholded_log_one_minus_prob.ts";
import { thresholdedNegLogProb } from "../../objectives/thresholded_neg_log_prob.ts";
import { thresholdedNegProb } from "../../objectives/thresholded_neg_prob.ts";
import type { ThresholdParams } from "../../objectives/threshold.ts";

const tolerance = 1e-5;

/** Expected per-position loss, gradient row (before the mean) and gate, in float64. */
interface Expected {
  readonly loss: number;
  readonly grad: number[];
  readonly kept: boolean;
}
type Reference = (z: number[], y: number, zRef: number[], batchMeanP: number) => Expected;

/**
 * The paper's closed form of a p-only objective (objectives/_paper_forms.ts, written apart from
 * the objectives), never the objective's own lossAt/descentWeight/keptAt.
 */
function fromClosedForm<P>(objective: Objective<P>, params: P): Reference {
  const forms = paperForms[objective.id];
  if (!forms?.loss || !forms.weight) throw new Error(`No paper closed form for ${objective.id}`);
  return (z, y) => {
    const p = softmax(z);
    const py = p[y]!;
    const s = forms.weight!(py, params) / (1 - py);
    return {
      loss: forms.loss!(py, params),
      grad: p.map((pi, i) => -s * ((i === y ? 1 : 0) - pi)),
      kept: forms.kept ? forms.kept(py, params) : true,
    };
  };
}

function randomInput(seed: number, positions: number, vocab: number, mask?: number[]) {
  const random = seededRandom(seed);
  const matrix = () =>
    Array.from(
      { length: positions },
      () => Array.from({ length: vocab }, () => Math.fround(6 * (random() - 0.5))),
    );
  return {
    logits: matrix(),
    referenceLogits: matrix(),
    targets: Array.from({ length: positions }, () => Math.floor(random() * vocab)),
    mask: mask ?? Array.from({ length: positions }, (_, i) => (i === 0 || random() < 0.7 ? 1 : 0)),
  };
}

/** Checks the reduced loss and gradient of lossAndGradOf against the float64 reference. */
async function check<P>(
  objective: Objective<P>,
  params: P,
  reference: Reference,
  input: Required<LossAndGradInput>,
): Promise<number> {
  const { loss, gradLogits } = await lossAndGradOf(objective, params, input);
  const maskedP = input.targets.map((y, t) => softmax(input.logits[t]!)[y]!);
  const count = input.mask.reduce((a, b) => a + b, 0);
  const batchMeanP = count === 0
    ? 0
    : maskedP.reduce((s, p, t) => s + p * input.mask[t]!, 0) / count;
  const rows = input.targets.map((y, t) =>
    reference([...input.logits[t]!], y, [...input.referenceLogits[t]!], batchMeanP)
  );
  const gates = rows.map((r, t) => (r.kept ? input.mask[t]! : 0));
  const kept = gates.reduce((a, b) => a + b, 0);
  const expectedLoss = rows.reduce((s, r, t) => s + (gates[t] ? r.loss : 0), 0) / (kept + 1e-8);
  assert.ok(
    Math.abs(loss - expectedLoss) <= tolerance * Math.max(1, Math.abs(expectedLoss)),
    `${objective.id}: loss ${loss}, closed form ${expectedLoss}`,
  );
  rows.forEach((r, t) => {
    r.grad.forEach((g, i) => {
      const expected = gates[t] ? g / (kept + 1e-8) : 0;
      const got = gradLogits[t]![i]!;
      assert.ok(
        Math.abs(got - expected) <= tolerance * Math.max(1, Math.abs(expected)),
        `${objective.id}: dL/dz[${t}][${i}] = ${got}, closed form ${expected}`,
      );
      if (!gates[t]) assert.equal(got, 0, `${objective.id}: gated-out row ${t} not exactly 0`);
    });
  });
  return kept;
}

interface Case {
  readonly name: string;
  readonly objective: Objective<unknown>;
  readonly params: unknown;
  readonly reference: Reference;
}

function c<P>(name: string, objective: Objective<P>, params: P, reference?: Reference): Case {
  return {
    name,
    objective: objective as Objective<unknown>,
    params,
    reference: reference ?? fromClosedForm(objective, params),
  };
}

const none: Record<string, never> = {};

function thresholdCase<P extends ThresholdParams>(
  name: string,
  objective: Objective<P>,
  params: P,
): Case {
  return c(name, objective, params);
}

const anchoredReference = (lambda: number): Reference => (z, y, zRef) => {
  const p = softmax(z);
  const ref = softmax(zRef);
  const py = p[y]!;
  const kl = ref.reduce((s, r, i) => s + r * (Math.log(r) - Math.log(p[i]!)), 0);
  return {
    loss: -py * Math.log(py) + lambda * kl,
    grad: p.map((pi, i) => -py * ((i === y ? 1 : 0) - pi) + lambda * (pi - ref[i]!)),
    kept: true,
  };
};

const deftReference = (variant: "renyi" | "cayley"): Reference => (z, y, _zRef, meanP) => {
  const p = softmax(z);
  const py = p[y]!;
  let alpha: number;
  let eps: number;
  if (variant === "renyi") {
    alpha = p.reduce((s, x) => s + x * x, 0);
    eps = 1e-6;
  } else {
    const floor = 0.5 * meanP;
    const d = 1 - py + 1e-8;
    alpha = Math.min(1, Math.max(0.001, floor + (1 - floor) * ((1 - d) / (1 + d + 1e-8))));
    eps = 1e-8;
  }
  const s = (alpha * Math.pow(py, alpha)) / (alpha + eps);
  return {
    loss: (1 - Math.pow(py, alpha)) / (alpha + eps),
    grad: p.map((pi, i) => -s * ((i === y ? 1 : 0) - pi)),
    kept: true,
  };
};

const cases: ReadonlyArray<Case> = [
  c("neg-log-prob", negLogProb, none),
  c("neg-prob", negProb, none),
  c("general-family a=0.5", generalFamily, { alpha: 0.5 }),
  c("general-family a=10", generalFamily, { alpha: 10 }),
  c("neg-prob-power a=3", negProbPower, { alpha: 3 }),
  c("log-one-minus-prob", logOneMinusProb, { epsilon: 1e-3 }),
  c("log-one-minus-prob eps=0", logOneMinusProb, { epsilon: 0 }),
  thresholdCase("thresholded-neg-log-prob above", thresholdedNegLogProb, {
    tau: 0.1,
    keep: "above",
  }),
  thresholdCase("thresholded-neg-log-prob below", thresholdedNegLogProb, {
    tau: 0.1,
    keep: "below",
  }),
  thresholdCase("thresholded-neg-prob above", thresholdedNegProb, { tau: 0.15, keep: "above" }),
  thresholdCase("thresholded-neg-prob below", thresholdedNegProb, { tau: 0.15, keep: "below" }),
  thresholdCase("thresholded-log-one-minus-prob above", thresholdedLogOneMinusProb, {
    tau: 0.1,
    keep: "above",
    epsilon: 1e-3,
  }),
  thresholdCase("thresholded-log-one-minus-prob below", thresholdedLogOneMinusProb, {
    tau: 0.1,
    keep: "below",
    epsilon: 1e-3,
  }),
  c("dft", dft, none),
  c("anchored", anchored, { lambda: 0.3 }, anchoredReference(0.3)),
  c("focal g=2", focal, { gamma: 2 }),
  c("focal g=0.5", focal, { gamma: 0.5 }),
  c("huber-prob d=0.3", huberProb, { delta: 0.3 }),
  c("huber-prob d=1", huberProb, { delta: 1 }),
  c("deft renyi", deft, { variant: "renyi" }, deftReference("renyi")),
  c("deft cayley", deft, { variant: "cayley" }, deftReference("cayley")),
  c("gft t=0.1", gft, { tau: 0.1 }),
];

Deno.test("lossAndGradOf matches the closed forms on random logits (every objective)", async () => {
  for (const [k, x] of cases.entries()) {
    let kept = 0;
    let supervised = 0;
    for (const seed of [1, 2, 3]) {
      const input = randomInput(100 * k + seed, 6, 9);
      kept += await check(x.objective, x.params, x.reference, input);
      supervised += input.mask.reduce((a, b) => a + b, 0);
    }
    if (x.name.startsWith("thresholded")) {
      assert.ok(kept > 0 && kept < supervised, `${x.name}: kept ${kept} of ${supervised}`);
    }
  }
});

Deno.test("lossAndGradOf gives 0 and a zero gradient on a fully masked input", async () => {
  for (const x of cases) {
    const kept = await check(
      x.objective,
      x.params,
      x.reference,
      randomInput(7, 4, 9, [0, 0, 0, 0]),
    );
    assert.equal(kept, 0);
  }
});

Deno.test("thresholded objectives with every token kept equal their ungated forms", async () => {
  const input = randomInput(11, 5, 9, [1, 1, 1, 1, 1]);
  const pairs: ReadonlyArray<[Objective<unknown>, unknown, Objective<unknown>, unknown]> = [
    [
      thresholdedNegLogProb as Objective<unknown>,
      { tau: 0, keep: "above" },
      negLogProb as Objective<unknown>,
      none,
    ],
    [
      thresholdedNegProb as Objective<unknown>,
      { tau: 1, keep: "below" },
      negProb as Objective<unknown>,
      none,
    ],
    [
      thresholdedLogOneMinusProb as Objective<unknown>,
      { tau: 0, keep: "above", epsilon: 1e-3 },
      logOneMinusProb as Objective<unknown>,
      { epsilon: 1e-3 },
    ],
  ];
  for (const [gated, gatedParams, plain, plainParams] of pairs) {
    const a = await lossAndGradOf(gated, gatedParams, input);
    const b = await lossAndGradOf(plain, plainParams, input);
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-6, `${gated.id}: ${a.loss} vs ${b.loss}`);
    assert.deepEqual(a.gradLogits, b.gradLogits, `${gated.id}: gradients differ`);
  }
});

Deno.test("thresholded objectives with every token gated out give 0 and no gradient", async () => {
  const input = randomInput(12, 5, 9, [1, 1, 1, 1, 1]);
  for (const objective of [thresholdedNegLogProb, thresholdedNegProb] as Objective<unknown>[]) {
    const { loss, gradLogits } = await lossAndGradOf(objective, { tau: 1, keep: "above" }, input);
    assert.equal(loss, 0);
    assert.ok(gradLogits.every((row) => row.every((g) => g === 0)), `${objective.id}: gradient`);
  }
});
