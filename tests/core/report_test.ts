import assert from "node:assert/strict";
import type { CellResult } from "../../core/cell.ts";
import { placeOnContinuum, type ProbeResult } from "../../core/probe.ts";
import { compare, renderReport, varianceSources } from "../../core/report.ts";

function probeOf(meanP: number): ProbeResult {
  return {
    meanP,
    meanPStandardError: 0,
    shareAbove055: meanP,
    shareStandardError: 0,
    percentiles: { "10": 0, "50": meanP },
    tokens: 100,
    forced: { tokens: 50, meanP: 1, shareAbove055: 1 },
    allTargets: { tokens: 150, meanP: (2 * meanP + 1) / 3, shareAbove055: 0.9 },
    pairs: { read: 10, of: 10 },
    ...placeOnContinuum(meanP, meanP),
  };
}

function cell(objective: string, seed: number, primary: number, baseSeed = seed): CellResult {
  return {
    key: `${objective}-${seed}`,
    domain: "d",
    backbone: { id: "pretrained", params: {}, label: "b" },
    objective: { id: objective, params: {}, label: objective },
    seed,
    baseSeed,
    baseSeeded: true,
    probe: probeOf(0.8 + 0.01 * seed),
    meanPAfter: 0.8,
    scores: { "t/greedy": primary },
    items: { "t/greedy": 100 },
    primaryKey: "t/greedy",
    primary,
    wallSeconds: 1,
  };
}

Deno.test("compare() calls a difference clear by Welch's t-test, not by the larger spread", () => {
  // Means 0.50 vs 0.56 with std 0.01 and 0.05: the old rule (|0.06| > 0.05) called it clear; Welch
  // (t = 2.04, 2.2 degrees of freedom, p = 0.17) does not.
  const cells = [
    ...[0.49, 0.5, 0.51].map((p, s) => cell("nll", s, p)),
    ...[0.51, 0.56, 0.61].map((p, s) => cell("neg-prob", s, p)),
    ...[0.8, 0.82, 0.81].map((p, s) => cell("other", s, p)),
  ];
  const [small, large] = compare({ name: "t", cells, failures: [] });
  assert.equal(small!.objective, "neg-prob");
  assert.ok(Math.abs(small!.difference - 0.06) < 1e-12);
  assert.ok(small!.test.pValue > 0.05 && !small!.clear, `p ${small!.test.pValue}`);
  assert.ok(large!.clear && large!.test.pValue < 0.001);
  assert.match(large!.varianceSources, /the base model \(its initialisation and pretraining run/);
  const report = renderReport({ name: "t", cells, failures: [] }, "t");
  assert.match(report, /Welch's two-sided t-test/);
  assert.match(report, /What a spread over seeds includes/);
  assert.match(report, /mean p ≥ 0\.7/);
});

Deno.test("varianceSources() says when the base model is the same for every seed", () => {
  const fixed = [0, 1, 2].map((s) => cell("nll", s, 0.5, 0));
  assert.match(
    varianceSources(fixed),
    /not the base model \(every seed fine-tunes the seed-0 base\)/,
  );
  assert.equal(varianceSources([cell("nll", 0, 0.5)]), "one seed: no spread");
});
