// The mutation test of the theory checks: deliberately wrong objectives (and a wrong reduction)
// stand in for the built-ins, and `deno task theory`'s checks must fail on each; the real ones
// pass. The wrong objectives are wrong *consistently* (their perToken, lossAt and descentWeight
// agree with each other), so only checks against closed forms written apart from the objectives
// can catch them.
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fromSums, makeTokenView, tokenSums } from "../../core/loss.ts";
import type { Objective } from "../../core/plugin.ts";
import type { BatchEvaluator, TheoryCheck } from "../../core/theory.ts";
import { dft } from "../../objectives/dft.ts";
import { generalFamily, type GeneralFamilyParams } from "../../objectives/general_family.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { gateOf, numericTau } from "../../objectives/threshold.ts";
import { thresholdedNegLogProb } from "../../objectives/thresholded_neg_log_prob.ts";
import { thresholdedNegProb } from "../../objectives/thresholded_neg_prob.ts";
import { objectiveTheoryChecks, runTheoryChecks } from "../../objectives/theory_checks.ts";

const asAny = <P>(o: Objective<P>) => o as unknown as Objective<unknown>;
const logP = (o: { logProbTarget: tf.Tensor }) => o.logProbTarget;

/** (1 − p^α) without the 1/α, everywhere: perToken, lossAt and descentWeight agree. */
const missingInverseAlpha: Objective<GeneralFamilyParams> = {
  ...generalFamily,
  lossAt: (p, { alpha }) => 1 - Math.pow(p, alpha),
  descentWeight: (p, { alpha }) => alpha * Math.pow(p, alpha) * (1 - p),
  perToken: (view, { alpha }) => ({ loss: tf.sub(1, tf.exp(tf.mul(logP(view), alpha))) }),
};

/** (1 − p^(α+1))/α: a wrong power, consistent everywhere. */
const wrongPower: Objective<GeneralFamilyParams> = {
  ...generalFamily,
  lossAt: (p, { alpha }) => (1 - Math.pow(p, alpha + 1)) / alpha,
  descentWeight: (p, { alpha }) => ((alpha + 1) / alpha) * Math.pow(p, alpha + 1) * (1 - p),
  perToken: (view, { alpha }) => ({
    loss: tf.div(tf.sub(1, tf.exp(tf.mul(logP(view), alpha + 1))), alpha),
  }),
};

/** +log p instead of −log p: the wrong sign, consistent everywhere. */
const wrongSign: Objective<Record<string, never>> = {
  ...negLogProb,
  lossAt: (p) => Math.log(p),
  descentWeight: (p) => -(1 - p),
  perToken: (view) => ({ loss: logP(view) }),
};

/**
 * (1 − p)·1{p ∈ I} with the gate multiplied into the loss instead of returned as `keep`: gated-out
 * tokens get no gradient, but the token mean divides by every supervised token (the wrong
 * denominator), not by the kept ones.
 */
const gateInTheLoss: Objective<unknown> = {
  ...thresholdedNegProb,
  perToken: (view, params) => {
    const q = params as { tau: number; keep: "above" | "below" };
    const p = tf.exp(logP(view));
    const gate = gateOf(p, numericTau("thresholded-neg-prob", q.tau), q.keep);
    return { loss: tf.mul(tf.sub(1, p), gate) };
  },
} as Objective<unknown>;

/** −log p·1{p ∈ I} whose gate lets 5% through on gated-out tokens: it leaks gradient. */
const leakyGate: Objective<unknown> = {
  ...thresholdedNegLogProb,
  perToken: (view, params) => {
    const q = params as { tau: number; keep: "above" | "below" };
    const gate = gateOf(tf.exp(logP(view)), numericTau("thresholded-neg-log-prob", q.tau), q.keep);
    return { loss: tf.neg(logP(view)), keep: tf.maximum(gate, 0.05) };
  },
} as Objective<unknown>;

/** −log p·1{p ∈ I} that forgets to return its gate: every token trains. */
const droppedGate: Objective<unknown> = {
  ...thresholdedNegLogProb,
  perToken: (view) => ({ loss: tf.neg(logP(view)) }),
} as Objective<unknown>;

/** DFT without the stop-gradient: −p log p differentiated through p. */
const dftWithoutStopGradient: Objective<Record<string, never>> = {
  ...dft,
  perToken: (view) => ({ loss: tf.neg(tf.mul(tf.exp(logP(view)), logP(view))) }),
};

/** The reduction with the supervised-token count as its denominator (not the kept count). */
const supervisedDenominator: BatchEvaluator = (objective, params, input) => {
  const rows = input.targets.length;
  const time = input.targets[0]!.length;
  const vocab = input.logits[0]![0]!.length;
  const result = tf.tidy(() => {
    const targets = tf.tensor2d(input.targets.flat(), [rows, time], "int32");
    const mask = tf.tensor2d(input.mask.flat(), [rows, time]);
    const referenceLogits = tf.tensor3d(input.referenceLogits.flat(2), [rows, time, vocab]);
    const f = (z: tf.Tensor) => {
      const view = makeTokenView(
        { logits: z as tf.Tensor3D, targets, mask, referenceLogits, seed: 0 },
        objective.needs,
      );
      const sums = tokenSums(objective, params, view);
      return fromSums({ ...sums, kept: sums.tokens }).loss;
    };
    return tf.valueAndGrad(f)(tf.tensor3d(input.logits.flat(2), [rows, time, vocab]));
  });
  const loss = result.value.dataSync()[0]!;
  const g = result.grad.arraySync() as number[][][];
  tf.dispose([result.value, result.grad]);
  return Promise.resolve({ loss, gradLogits: g });
};

const paperReduction = "T1 reduction (3x8 positions, masks, gates; loss unchunked and chunked): " +
  "loss and gradient = the paper's closed forms";
const zeroGradient = "T1 masked and gated-out tokens get exactly zero gradient";

/** Each wrong objective, with a check it must fail (among others). */
const mutants: ReadonlyArray<
  { readonly name: string; readonly objective: Objective<unknown>; readonly fails: string }
> = [
  {
    name: "general-family without 1/alpha",
    objective: asAny(missingInverseAlpha),
    fails: paperReduction,
  },
  { name: "general-family with p^(alpha+1)", objective: asAny(wrongPower), fails: paperReduction },
  { name: "neg-log-prob with the wrong sign", objective: asAny(wrongSign), fails: paperReduction },
  {
    name: "thresholded-neg-prob, gate in the loss (wrong denominator)",
    objective: gateInTheLoss,
    fails: paperReduction,
  },
  { name: "thresholded-neg-log-prob, gate leaks 5%", objective: leakyGate, fails: zeroGradient },
  {
    name: "thresholded-neg-log-prob, gate not returned",
    objective: droppedGate,
    fails: zeroGradient,
  },
  {
    name: "dft without the stop-gradient",
    objective: asAny(dftWithoutStopGradient),
    fails: paperReduction,
  },
];

function failed(checks: ReadonlyArray<TheoryCheck>): string[] {
  return checks.filter((c) => !c.pass).map((c) => c.name);
}

Deno.test("the real objectives pass every theory check", async () => {
  const checks = await runTheoryChecks();
  assert.deepEqual(failed(checks), []);
  assert.equal(tf.memory().numTensors, 0);
});

Deno.test("every deliberately wrong objective fails at least one theory check", async () => {
  const report: string[] = [];
  for (const mutant of mutants) {
    const names = failed(await runTheoryChecks({ replace: [mutant.objective] }));
    report.push(`${mutant.name}: ${names.length} failing\n    ${names.join("\n    ")}`);
    assert.ok(
      names.some((n) => n.startsWith(mutant.fails)),
      `${mutant.name} does not fail "${mutant.fails}"; it fails: ${names.join("; ") || "nothing"}`,
    );
  }
  console.log(report.join("\n"));
});

Deno.test("every wrong objective fails the per-objective checks (`theory --objective`)", async () => {
  // The per-objective checks `deno task theory --objective ID` runs.
  for (const mutant of mutants) {
    const params = mutant.objective.id === "general-family"
      ? { alpha: 0.5 }
      : mutant.objective.id.startsWith("thresholded")
      ? { tau: 0.5, keep: "above" }
      : {};
    const checks = await objectiveTheoryChecks(mutant.name, mutant.objective, params);
    const names = failed(checks);
    assert.ok(
      names.some((n) => n.startsWith(mutant.fails)),
      `${mutant.name}: ${names.join("; ") || "nothing fails"}`,
    );
  }
});

Deno.test("a reduction that divides by the supervised count, not the kept count, fails", async () => {
  const names = failed(await runTheoryChecks({ evaluate: supervisedDenominator }));
  console.log(`wrong denominator in the reduction:\n    ${names.join("\n    ")}`);
  assert.ok(names.includes(paperReduction), names.join("\n"));
});
