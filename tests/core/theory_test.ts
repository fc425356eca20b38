import "../_setup.ts";
import assert from "node:assert/strict";
import {
  curvatureOf,
  descentWeightArgmax,
  dirichletSample,
  finiteDifferenceError,
  gradientsAgree,
  gradientShapeError,
  riskRate,
  seededRandom,
  sumToZeroError,
} from "../../core/theory.ts";
import { dft } from "../../objectives/dft.ts";
import { generalFamily } from "../../objectives/general_family.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import { descentWeightPlot, runTheoryChecks } from "../../objectives/theory_checks.ts";
import type { Objective } from "../../core/plugin.ts";
import * as tf from "@tensorflow/tfjs";

const none: Record<string, never> = {};

Deno.test("runTheoryChecks: every check T1-T7 passes", async () => {
  const checks = await runTheoryChecks();
  for (const prefix of ["T1", "T2", "T3", "T4", "T5", "T6", "T7"]) {
    assert.ok(checks.some((c) => c.name.startsWith(prefix)), `no ${prefix} check`);
  }
  const failed = checks.filter((c) => !c.pass);
  assert.deepEqual(failed, [], failed.map((c) => `${c.name}: ${c.figures}`).join("\n"));
  assert.equal(tf.memory().numTensors, 0, "runTheoryChecks leaked tensors");
});

Deno.test("gradientsAgree flags dft vs neg-prob and not neg-prob vs neg-log-prob", async () => {
  assert.equal(await gradientsAgree(dft, none, negProb, none, 4), true);
  assert.equal(await gradientsAgree(negProb, none, negLogProb, none, 4), false);
  assert.equal(
    await gradientsAgree(generalFamily, { alpha: 2 }, generalFamily, { alpha: 3 }, 2),
    false,
  );
});

Deno.test("gradient checks catch a wrong closed form", async () => {
  const wrong: Objective<Record<string, never>> = { ...negProb, descentWeight: (p) => p };
  assert.ok((await gradientShapeError(negProb, none)) <= 1e-5);
  assert.ok((await gradientShapeError(wrong, none)) > 1e-2);
  const fd = await finiteDifferenceError(wrong, none, { trials: 3 });
  assert.ok(fd.autodiff <= 1e-5 && fd.closedForm > 1e-2, JSON.stringify(fd));
  assert.ok((await sumToZeroError(negLogProb, none)) <= 1e-6);
});

Deno.test("descentWeightArgmax and curvatureOf on the general family", () => {
  assert.ok(Math.abs(descentWeightArgmax(generalFamily, { alpha: 3 }) - 0.75) <= 1e-4);
  assert.equal(curvatureOf(generalFamily, { alpha: 0.5 }), "convex");
  assert.equal(curvatureOf(generalFamily, { alpha: 4 }), "concave");
  assert.equal(curvatureOf(negProb, none), "linear");
});

Deno.test("riskRate: NLL reduces the risk faster than -p on clean uniform q (MW)", () => {
  const q = new Array(10).fill(0.1);
  const nll = riskRate(negLogProb, none, { q, yStar: 3, yTilde: 3 });
  const negP = riskRate(negProb, none, { q, yStar: 3, yTilde: 3 });
  assert.ok(nll > negP && negP > 0, `${nll} ${negP}`);
  // −p (f′ = −1): v*·v = q_y*·q_ỹ·‖e_y* − q‖² = 0.1 · 0.1 · 0.9.
  assert.ok(Math.abs(negP - 0.1 * 0.1 * 0.9) < 1e-12, `${negP}`);
});

Deno.test("seededRandom and dirichletSample are deterministic and on the simplex", () => {
  const a = dirichletSample(seededRandom(3), { size: 5, concentration: 0.3 });
  const b = dirichletSample(seededRandom(3), { size: 5, concentration: 0.3 });
  assert.deepEqual(a, b);
  assert.ok(Math.abs(a.reduce((s, x) => s + x, 0) - 1) < 1e-12 && a.every((x) => x >= 0));
});

Deno.test("descentWeightPlot draws the six Fig. 3 curves with peak markers", async () => {
  const path = await Deno.makeTempFile({ suffix: ".svg" });
  try {
    const svg = descentWeightPlot(path);
    assert.equal(await Deno.readTextFile(path), svg);
    for (const name of ["-log p", "(1-p^0.5)/0.5", "-p", "(1-p^5)/5", "(1-p^10)/10", "log(1-p)"]) {
      assert.ok(svg.includes(`>${name}</text>`), `legend lacks ${name}`);
    }
    assert.equal((svg.match(/<circle /g) ?? []).length, 6 + 1); // six peaks + legend symbol
    assert.ok(svg.includes("p = 1/2"));
  } finally {
    await Deno.remove(path);
  }
});
