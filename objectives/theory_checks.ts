/**
 * The theorem tests of Li et al. (2025), §7.4 of the project's research notes, run on the
 * built-in objectives through the training step's own loss (`core/batch_loss.ts`):
 *
 * - T1 gradient shape, over random batches of many positions with masked positions and gates,
 *   unchunked and in loss chunks: the reduced loss and its gradient equal the official code's
 *   kept-token mean of the paper's closed forms, written apart from the objectives in
 *   `_paper_forms.ts` (not read back from them); the same against each objective's declared
 *   `lossAt`/`descentWeight`/`keptAt`; the declared forms against the paper's on a grid; float64
 *   finite differences; masked and gated-out tokens get exactly zero gradient.
 * - T2 DFT ≡ −p in gradient.
 * - T3 argmax of W_f (α/(1+α) for the general family, 0 for NLL, 1 for log(1−p)) and
 *   Proposition 3.2 (concave f → argmax ≥ ½, convex f → argmax ≤ ½).
 * - T4 Σ_i ∂ℓ/∂z_i = 0.
 * - T5 the model-weak closed form Ṙ(−p) − Ṙ(NLL) = −0.0152880 (V = 50, E = 0.2) and a
 *   Monte-Carlo estimate of it.
 * - T6 the model-strong sign flip with label noise (negative at E = 0, positive at E ≥ 0.1).
 * - T7 the constants of Lemma E.7.
 *
 * {@link objectiveTheoryChecks} runs the per-objective checks on any objective (a plugin's): those
 * that need a closed form it does not declare are reported as skipped, by name.
 *
 * Sign: W_f is the descent weight −∂ℓ/∂z_y; the paper's Lemma 3.1 prints the negative gradient.
 *
 * @module
 */
import { lossAndGradOf } from "../core/loss.ts";
import type { Objective } from "../core/plugin.ts";
import { lineChart, type Series } from "../core/svg.ts";
import {
  type BatchEvaluator,
  type CheckedChoice,
  closedFormGridCheck,
  curvatureCheck,
  curvatureOf,
  descentWeightArgmax,
  dirichletSample,
  finiteDifferenceCheck,
  gradientsAgree,
  maxGradientDifference,
  measuredDescentWeight,
  probabilityGrid,
  reductionCheck,
  riskRate,
  seededRandom,
  softmax,
  sumToZeroCheck,
  type TheoryCheck,
  zeroGradientCheck,
} from "../core/theory.ts";
import { paperForms } from "./_paper_forms.ts";
import { anchored } from "./anchored.ts";
import { deft } from "./deft.ts";
import { dft } from "./dft.ts";
import { focal } from "./focal.ts";
import { generalFamily } from "./general_family.ts";
import { gft } from "./gft.ts";
import { huberProb } from "./huber_prob.ts";
import { logOneMinusProb } from "./log_one_minus_prob.ts";
import { negLogProb } from "./neg_log_prob.ts";
import { negProb } from "./neg_prob.ts";
import { negProbPower } from "./neg_prob_power.ts";
import { otr } from "./otr.ts";
import { thresholdedLogOneMinusProb } from "./thresholded_log_one_minus_prob.ts";
import { thresholdedNegLogProb } from "./thresholded_neg_log_prob.ts";
import { thresholdedNegProb } from "./thresholded_neg_prob.ts";

const _builtinList = {
  anchored,
  deft,
  dft,
  focal,
  generalFamily,
  gft,
  huberProb,
  logOneMinusProb,
  negLogProb,
  negProb,
  negProbPower,
  otr,
  thresholdedLogOneMinusProb,
  thresholdedNegLogProb,
  thresholdedNegProb,
};

/** The built-in objectives the checks use, each possibly replaced by one with the same id. */
type _Builtins = { readonly [K in keyof typeof _builtinList]: Objective<unknown> };

function _builtins(replace: ReadonlyArray<Objective<unknown>>): _Builtins {
  const byId = new Map(replace.map((o) => [o.id, o]));
  return Object.fromEntries(
    Object.entries(_builtinList).map(([key, o]) => [key, byId.get(o.id) ?? o]),
  ) as unknown as _Builtins;
}

/** Objectives whose loss value is not the potential of their gradient (a stop-gradient). */
const _stopGradientIds: ReadonlySet<string> = new Set(["dft", "gft"]);

function _choice<P>(label: string, objective: Objective<P>, params: P): CheckedChoice {
  const reference = paperForms[objective.id];
  return {
    label,
    objective: objective as Objective<unknown>,
    params,
    ...(reference ? { reference } : {}),
    ...(_stopGradientIds.has(objective.id) ? { stopGradient: true } : {}),
  };
}

const _none: Record<string, never> = {};

/** Every built-in objective whose gradient has the closed form of a function of p. */
function _closedFormChoices(b: _Builtins): CheckedChoice[] {
  return [
    _choice("-log p", b.negLogProb, _none),
    _choice("1 - p", b.negProb, _none),
    _choice("GF a=0.5", b.generalFamily, { alpha: 0.5 }),
    _choice("GF a=10", b.generalFamily, { alpha: 10 }),
    _choice("-p^5/5", b.negProbPower, { alpha: 5 }),
    _choice("log(1-p+1e-3)", b.logOneMinusProb, { epsilon: 1e-3 }),
    _choice("-log p, p>=0.2", b.thresholdedNegLogProb, { tau: 0.2, keep: "above" }),
    _choice("-log p, p<=0.2", b.thresholdedNegLogProb, { tau: 0.2, keep: "below" }),
    _choice("1-p, p>=0.5", b.thresholdedNegProb, { tau: 0.5, keep: "above" }),
    _choice("1-p, p<=0.5", b.thresholdedNegProb, { tau: 0.5, keep: "below" }),
    _choice("log(1-p), p>=0.2", b.thresholdedLogOneMinusProb, {
      tau: 0.2,
      keep: "above",
      epsilon: 1e-3,
    }),
    _choice("log(1-p), p<=0.2", b.thresholdedLogOneMinusProb, {
      tau: 0.2,
      keep: "below",
      epsilon: 1e-3,
    }),
    _choice("DFT", b.dft, _none),
    _choice("focal g=2", b.focal, { gamma: 2 }),
    _choice("huber d=0.3", b.huberProb, { delta: 0.3 }),
    _choice("GFT t=0.3", b.gft, { tau: 0.3 }),
  ];
}

/** The objectives without a p-only closed form, with their params. */
function _otherChoices(b: _Builtins): CheckedChoice[] {
  return [
    _choice("anchored l=0.1", b.anchored, { lambda: 0.1 }),
    _choice("DEFT renyi", b.deft, { variant: "renyi" }),
    _choice("DEFT cayley", b.deft, { variant: "cayley" }),
    _choice("OTR", b.otr, { samples: 4, temperature: 1, beta: 1 }),
  ];
}

function _fmt(x: number, digits = 2): string {
  return x === 0 ? "0" : x.toExponential(digits);
}

/** T1 for the objectives whose gradient needs the whole distribution: their own closed forms. */
async function _distributionGradientError(
  b: _Builtins,
): Promise<{ anchored: number; deft: number }> {
  const random = seededRandom(31);
  let worstAnchored = 0;
  let worstDeft = 0;
  for (let trial = 0; trial < 6; trial++) {
    const z = Array.from({ length: 7 }, () => Math.fround(6 * (random() - 0.5)));
    const zRef = Array.from({ length: 7 }, () => Math.fround(6 * (random() - 0.5)));
    const y = Math.floor(random() * 7);
    const p = softmax(z);
    const ref = softmax(zRef);
    const py = p[y]!;
    const lambda = 0.1;
    const a = await lossAndGradOf(b.anchored, { lambda }, {
      logits: [z],
      targets: [y],
      referenceLogits: [zRef],
    });
    // DFT part: −p_y(δ_iy − p_i); KL part: λ(p_i − ref_i).
    a.gradLogits[0]!.forEach((g, i) => {
      const expected = -py * ((i === y ? 1 : 0) - p[i]!) + lambda * (p[i]! - ref[i]!);
      worstAnchored = Math.max(worstAnchored, Math.abs(g - expected));
    });
    const alpha = p.reduce((s, x) => s + x * x, 0);
    const d = await lossAndGradOf(b.deft, { variant: "renyi" }, {
      logits: [z],
      targets: [y],
    });
    // ℓ = (1 − p^α)/(α + 1e-6) with α fixed: ∂ℓ/∂z_i = −α p^α/(α + 1e-6)·(δ_iy − p_i).
    const s = (alpha * Math.pow(py, alpha)) / (alpha + 1e-6);
    d.gradLogits[0]!.forEach((g, i) => {
      worstDeft = Math.max(worstDeft, Math.abs(g + s * ((i === y ? 1 : 0) - p[i]!)));
    });
  }
  return { anchored: worstAnchored, deft: worstDeft };
}

async function _t1(b: _Builtins, evaluate?: BatchEvaluator): Promise<TheoryCheck[]> {
  const closed = _closedFormChoices(b);
  const options = evaluate ? { evaluate } : {};
  const other = await _distributionGradientError(b);
  return [
    await reductionCheck(closed, "reference", options),
    await reductionCheck(closed, "declared", options),
    await closedFormGridCheck(closed),
    await finiteDifferenceCheck(closed),
    {
      name: "T1 anchored and DEFT gradients match their closed forms (<= 1e-5)",
      figures: `anchored ${_fmt(other.anchored)}; DEFT renyi ${_fmt(other.deft)}`,
      pass: other.anchored <= 1e-5 && other.deft <= 1e-5,
    },
    await zeroGradientCheck([...closed, ..._otherChoices(b)], options),
  ];
}

async function _t2(b: _Builtins): Promise<TheoryCheck[]> {
  const difference = await maxGradientDifference(b.dft, _none, b.negProb, _none, 6);
  const agree = await gradientsAgree(b.dft, _none, b.negProb, _none, 6);
  const nllDifference = await maxGradientDifference(b.negProb, _none, b.negLogProb, _none, 6);
  const nllAgree = await gradientsAgree(b.negProb, _none, b.negLogProb, _none, 6);
  return [{
    name: "T2 DFT = -p in gradient (the detector flags the pair, not -p vs NLL)",
    figures: `max rel. difference DFT vs 1-p ${_fmt(difference)}; 1-p vs -log p ${
      _fmt(nllDifference)
    }`,
    pass: agree && difference <= 1e-6 && !nllAgree,
  }];
}

function _t3(b: _Builtins): TheoryCheck[] {
  const grid = probabilityGrid(10000);
  const step = 1e-4;
  const family: string[] = [];
  let familyOk = true;
  for (const alpha of [0.5, 1, 5, 10]) {
    const peak = descentWeightArgmax(b.generalFamily, { alpha }, grid);
    const expected = alpha / (1 + alpha);
    familyOk &&= Math.abs(peak - expected) <= step;
    family.push(`a=${alpha}: ${peak.toFixed(4)} (a/(1+a) = ${expected.toFixed(4)})`);
  }
  const nll = descentWeightArgmax(b.negLogProb, _none, grid);
  const unlikely = descentWeightArgmax(b.logOneMinusProb, { epsilon: 0 }, grid);
  const unlikelyEps = descentWeightArgmax(b.logOneMinusProb, { epsilon: 1e-3 }, grid);
  const convexity: string[] = [];
  let convexityOk = true;
  const shapes: CheckedChoice[] = [
    ...[0.1, 0.2, 0.5, 0.8, 1, 2, 5, 10].map((alpha) =>
      _choice(`GF a=${alpha}`, b.generalFamily, { alpha })
    ),
    _choice("-log p", b.negLogProb, _none),
    _choice("-p^3/3", b.negProbPower, { alpha: 3 }),
    _choice("log(1-p+1e-3)", b.logOneMinusProb, { epsilon: 1e-3 }),
    _choice("focal g=2", b.focal, { gamma: 2 }),
    _choice("huber d=0.3", b.huberProb, { delta: 0.3 }),
  ];
  for (const c of shapes) {
    const curvature = curvatureOf(c.objective, c.params);
    const peak = descentWeightArgmax(c.objective, c.params, grid);
    const ok = curvature === "concave"
      ? peak >= 0.5
      : curvature === "convex"
      ? peak <= 0.5
      : curvature === "linear"
      ? Math.abs(peak - 0.5) <= step
      : false;
    convexityOk &&= ok;
    convexity.push(`${c.label} ${curvature} ${peak.toFixed(3)}`);
  }
  return [
    {
      name: "T3 argmax of W_f for (1-p^a)/a is a/(1+a)",
      figures: family.join("; "),
      pass: familyOk,
    },
    {
      name: "T3 argmax of W_f: NLL -> 0, log(1-p) -> 1 (eps = 1e-3: 1 - sqrt(eps))",
      figures: `NLL ${nll.toFixed(4)}; log(1-p) ${unlikely.toFixed(4)}; log(1-p+1e-3) ${
        unlikelyEps.toFixed(4)
      }`,
      pass: nll === grid[0] && unlikely === grid[grid.length - 1] &&
        Math.abs(unlikelyEps - (1 - Math.sqrt(1e-3))) < 2e-3,
    },
    {
      name: "T3 Prop. 3.2: concave f -> argmax >= 1/2, convex f -> argmax <= 1/2",
      figures: convexity.join("; "),
      pass: convexityOk,
    },
  ];
}

/** f′(p) from the descent weight: f′(p) = −W_f(p)/(p(1 − p)). */
function _derivative<P>(objective: Objective<P>, params: P, p: number): number {
  return -objective.descentWeight!(p, params) / (p * (1 - p));
}

function _t5(b: _Builtins): TheoryCheck[] {
  const [V, E] = [50, 0.2];
  // Eq. 18–20: (f2′ − f1′)(1/V)·[(V − 1)(1 − E) − E]/V³ with f1 = 1 − p, f2 = −log p.
  const gap = _derivative(b.negLogProb, _none, 1 / V) - _derivative(b.negProb, _none, 1 / V);
  const closed = (gap * ((V - 1) * (1 - E) - E)) / Math.pow(V, 3);
  const q = new Array(V).fill(1 / V);
  const difference = (yStar: number, yTilde: number) =>
    riskRate(b.negProb, _none, { q, yStar, yTilde }) -
    riskRate(b.negLogProb, _none, { q, yStar, yTilde });
  // Exact expectation over the label noise (y* = 0 by symmetry).
  let exact = (1 - E) * difference(0, 0);
  for (let y = 1; y < V; y++) exact += (E / (V - 1)) * difference(0, y);
  // Monte Carlo over y* and the flipped labels.
  const random = seededRandom(2025);
  const n = 20000;
  let sum = 0;
  let sumSq = 0;
  for (let k = 0; k < n; k++) {
    const yStar = Math.floor(random() * V);
    let yTilde = yStar;
    if (random() < E) yTilde = (yStar + 1 + Math.floor(random() * (V - 1))) % V;
    const d = difference(yStar, yTilde);
    sum += d;
    sumSq += d * d;
  }
  const mean = sum / n;
  const se = Math.sqrt(Math.max(0, sumSq / n - mean * mean) / n);
  return [
    {
      name: "T5 MW closed form: R1 - R2 = -0.0152880 (V = 50, E = 0.2, f1 = 1-p, f2 = -log p)",
      figures: `closed form ${closed.toFixed(7)}; exact expectation of v*.(v1 - v2) ${
        exact.toFixed(7)
      }`,
      pass: Math.abs(closed - -0.015288) < 5e-8 && Math.abs(exact - closed) < 1e-10,
    },
    {
      name: "T5 MW Monte-Carlo estimate agrees with the closed form (within 4 s.e.)",
      figures: `${mean.toFixed(5)} +/- ${se.toFixed(5)} (n = ${n}, seed 2025) vs ${
        closed.toFixed(5)
      }`,
      pass: Math.abs(mean - closed) <= 4 * se && mean < 0,
    },
  ];
}

function _t6(builtins: _Builtins): TheoryCheck[] {
  const V = 50;
  const rates = [0, 0.05, 0.1, 0.2, 0.3];
  const random = seededRandom(7);
  const n = 3000;
  // Per x: the clean-token term A and the mean noisy-token term B; D(E) = (1 − E)A + E·B.
  let a = 0;
  let b = 0;
  for (let k = 0; k < n; k++) {
    const noise = dirichletSample(random, { size: V, concentration: 0.3 });
    const q = noise.map((x, i) => 0.25 * x + (i === 0 ? 0.75 : 0));
    const difference = (yTilde: number) =>
      riskRate(builtins.negProb, _none, { q, yStar: 0, yTilde }) -
      riskRate(builtins.negLogProb, _none, { q, yStar: 0, yTilde });
    a += difference(0);
    let noisy = 0;
    for (let y = 1; y < V; y++) noisy += difference(y);
    b += noisy / (V - 1);
  }
  a /= n;
  b /= n;
  const values = rates.map((e) => (1 - e) * a + e * b);
  const pass = values[0]! < 0 && values.slice(2).every((v) => v > 0);
  return [{
    name: "T6 MS sign flip: R(-p) - R(NLL) < 0 at E = 0, > 0 at E >= 0.1",
    figures: rates.map((e, i) => `E=${e}: ${values[i]!.toFixed(4)}`).join("; ") +
      ` (V = 50, q = 0.75 e_y* + 0.25 Dir(0.3), n = ${n}, seed 7)`,
    pass,
  }];
}

function _t7(): TheoryCheck[] {
  const F = (q: ReadonlyArray<number>, i: number, j: number) => {
    const norm = q.reduce((s, x) => s + x * x, 0);
    return q[i]! * q[j]! * (-q[i]! - q[j]! + norm);
  };
  const constant = (11 * Math.sqrt(33) - 59) / 768;
  const at = (9 - Math.sqrt(33)) / 24;
  const attained = F([at, at, 1 - 2 * at], 0, 1);
  // One-dimensional scan over q_i = q_j = a, rest on one coordinate.
  let best = -Infinity;
  let bestA = 0;
  for (let k = 0; k <= 500000; k++) {
    const x = (k / 500000) * 0.5;
    const v = F([x, x, 1 - 2 * x], 0, 1);
    if (v > best) [best, bestA] = [v, x];
  }
  // Random search over simplices of 3–6 coordinates.
  const random = seededRandom(17);
  let searched = -Infinity;
  for (let k = 0; k < 20000; k++) {
    const size = 3 + (k % 4);
    const q = dirichletSample(random, { size, concentration: [0.2, 0.5, 1, 3][k % 4]! });
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) if (i !== j) searched = Math.max(searched, F(q, i, j));
    }
  }
  let sMax = -Infinity;
  for (let k = 0; k <= 4000; k++) {
    const s = 0.55 + (k / 4000) * 0.4;
    sMax = Math.max(sMax, 1 + 2 * s * s - 3 * s);
  }
  const ends = [0.55, 0.95].map((s) => 1 + 2 * s * s - 3 * s);
  return [
    {
      name: "T7 Lemma E.7: max F = (11 sqrt33 - 59)/768 at q_i = q_j = (9 - sqrt33)/24",
      figures: `constant ${constant.toFixed(7)}; F at the stated point ${
        attained.toFixed(7)
      }; scan max ${best.toFixed(7)} at ${bestA.toFixed(5)}; random search max ${
        searched.toFixed(7)
      }`,
      pass: Math.abs(constant - 0.005456) < 1e-6 && Math.abs(attained - constant) < 1e-12 &&
        Math.abs(best - constant) < 1e-9 && Math.abs(bestA - at) < 1e-4 &&
        searched <= constant + 1e-12,
    },
    {
      name: "T7 Lemma E.7: 1 + 2s^2 - 3s <= -0.045 on [0.55, 0.95], attained at both ends",
      figures: `max ${sMax.toFixed(6)}; at 0.55 ${ends[0]!.toFixed(6)}, at 0.95 ${
        ends[1]!.toFixed(6)
      }`,
      pass: sMax <= -0.045 + 1e-12 && ends.every((v) => Math.abs(v + 0.045) < 1e-12),
    },
  ];
}

/** Options of {@link runTheoryChecks}. */
export interface TheoryRunOptions {
  /**
   * Objectives that stand in for the built-ins with the same id (a mutation test checks that a
   * wrong objective fails). @default []
   */
  readonly replace?: ReadonlyArray<Objective<unknown>>;
  /** The loss and gradient under test. @default trainingLossAndGrad (the training step's loss) */
  readonly evaluate?: BatchEvaluator;
}

/**
 * Runs the paper's theorem tests T1–T7 on the built-in objectives (a few seconds on the cpu
 * backend; the tensor backend must be ready).
 *
 * @param options Stand-ins for built-ins and the evaluator (for mutation tests).
 * @returns One entry per check, with the numbers behind it.
 */
export async function runTheoryChecks(
  options: TheoryRunOptions = {},
): Promise<ReadonlyArray<TheoryCheck>> {
  const b = _builtins(options.replace ?? []);
  return [
    ...(await _t1(b, options.evaluate)),
    ...(await _t2(b)),
    ..._t3(b),
    await sumToZeroCheck([..._closedFormChoices(b), ..._otherChoices(b)]),
    ..._t5(b),
    ..._t6(b),
    ..._t7(),
  ];
}

/** The built-in choices the equivalence detector compares a plugin's objective with. */
function _equivalenceCandidates(): CheckedChoice[] {
  return [
    _choice("neg-log-prob", negLogProb, _none),
    _choice("neg-prob", negProb, _none),
    ...[0.1, 0.2, 0.5, 2, 3, 5, 10].map((alpha) =>
      _choice(`general-family {alpha: ${alpha}}`, generalFamily, { alpha })
    ),
    _choice("log-one-minus-prob", logOneMinusProb, { epsilon: 1e-3 }),
    _choice("focal {gamma: 2}", focal, { gamma: 2 }),
  ];
}

/**
 * The per-objective theory checks, for any objective (a plugin's): T1 through the training loss
 * against its declared closed forms and, for a built-in id, against the paper's; masked and
 * gated-out tokens; finite differences; Prop. 3.2; T4; and the equivalence detector against
 * common built-in choices (for information). A check that needs a closed form the objective does
 * not declare is reported as skipped, with the missing form named.
 *
 * @param label How the objective is named in the output.
 * @param objective The objective.
 * @param params Its decoded params.
 * @returns The checks, each named with the label.
 */
export async function objectiveTheoryChecks(
  label: string,
  objective: Objective<unknown>,
  params: unknown,
): Promise<TheoryCheck[]> {
  const choice = { ..._choice(label, objective, params), label };
  const choices = [choice];
  const checks = [
    await reductionCheck(choices, "declared"),
    await reductionCheck(choices, "reference"),
    await closedFormGridCheck(choices),
    await zeroGradientCheck(choices),
    await finiteDifferenceCheck(choices),
    await curvatureCheck(choices),
    await sumToZeroCheck(choices),
  ];
  const same: string[] = [];
  for (const c of _equivalenceCandidates()) {
    if (c.objective.id === objective.id) continue;
    if (await gradientsAgree(objective, params, c.objective, c.params, 4)) same.push(c.label);
  }
  checks.push({
    name: "T2 equivalence detector (information): built-in choices with the same gradient",
    figures: same.length > 0 ? `trains like ${same.join(", ")}` : "none of the common choices",
    pass: true,
  });
  return checks.map((check) => ({ ...check, name: `${check.name} [${label}]` }));
}

/** One extra curve of {@link descentWeightPlot}: an objective with params. */
export interface PlotCurve {
  /** Legend text. */
  readonly label: string;
  /** The objective (its declared `descentWeight`, else W_f measured by autodiff). */
  readonly objective: Objective<unknown>;
  /** Its decoded params. */
  readonly params: unknown;
}

/**
 * The normalized descent weights W_f(p)/max W_f of the main objectives, like Fig. 3 of the
 * paper: −log p, (1−p^0.5)/0.5, −p, (1−p^5)/5, (1−p^10)/10 and log(1−p) (ε = 0, so W = p), with
 * a marker at each peak and a dashed line at p = ½; extra curves (a plugin's objectives) are
 * drawn beside them, from their declared `descentWeight` or, when they declare none, measured by
 * autodiff through the per-token loss ("(measured)" in the legend).
 *
 * @param path Where to write the SVG, if anywhere.
 * @param extra More curves to draw beside the built-ins'.
 * @returns The SVG document.
 */
export function descentWeightPlot(path?: string, extra: ReadonlyArray<PlotCurve> = []): string {
  const grid = probabilityGrid(500);
  const curves: PlotCurve[] = [
    { label: "-log p", objective: negLogProb as Objective<unknown>, params: _none },
    {
      label: "(1-p^0.5)/0.5",
      objective: generalFamily as Objective<unknown>,
      params: { alpha: 0.5 },
    },
    { label: "-p", objective: negProb as Objective<unknown>, params: _none },
    { label: "(1-p^5)/5", objective: generalFamily as Objective<unknown>, params: { alpha: 5 } },
    { label: "(1-p^10)/10", objective: generalFamily as Objective<unknown>, params: { alpha: 10 } },
    { label: "log(1-p)", objective: logOneMinusProb as Objective<unknown>, params: { epsilon: 0 } },
    ...extra,
  ];
  const series: Series[] = [];
  const peaks: Array<readonly [number, number]> = [];
  for (const c of curves) {
    const declared = c.objective.descentWeight;
    const w = declared
      ? grid.map((p) => declared.call(c.objective, p, c.params))
      : measuredDescentWeight(c.objective, c.params, grid);
    const max = Math.max(...w);
    const scale = max > 0 ? max : 1;
    const name = declared ? c.label : `${c.label} (measured)`;
    series.push({ name, points: grid.map((p, k) => [p, w[k]! / scale] as const) });
    if (max > 0) {
      if (peaks.length > 0) peaks.push([NaN, NaN]);
      peaks.push([grid[w.indexOf(max)]!, 1]);
    }
  }
  series.push({ name: "peak", points: peaks, markers: true });
  const svg = lineChart(series, {
    title: "Normalized descent weight W_f(p) = -f'(p) p (1 - p)",
    xLabel: "p (probability of the target token)",
    yLabel: "W_f(p) / max W_f",
    xDomain: [0, 1],
    yDomain: [0, 1.05],
    verticalLines: [{ x: 0.5, label: "p = 1/2" }],
  });
  if (path !== undefined) Deno.writeTextFileSync(path, svg);
  return svg;
}
