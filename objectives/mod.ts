/**
 * The built-in objectives: per-token functions of the target token's probability p, each with its
 * formula, descent weight W_f(p) = −f′(p)·p·(1−p) and source in its own file.
 *
 * - Paper family (Li et al. 2025): `neg-log-prob`, `neg-prob`, `general-family`,
 *   `neg-prob-power`, `log-one-minus-prob`, and the thresholded variants
 *   `thresholded-neg-log-prob`, `thresholded-neg-prob`, `thresholded-log-one-minus-prob`.
 * - Neighbouring papers: `dft`, `anchored`, `focal`, `huber-prob`, `deft`, `gft`, `otr`
 *   (experimental).
 *
 * The paper's theorem tests are in `theory_checks.ts` ({@link runTheoryChecks}).
 *
 * @module
 */
// Starts the default tensor backend, so that this entry works with no set-up call.
import "../core/backend/mod.ts";
import type { Objective } from "../core/plugin.ts";
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

export * from "./anchored.ts";
export * from "./deft.ts";
export * from "./dft.ts";
export * from "./focal.ts";
export * from "./general_family.ts";
export * from "./gft.ts";
export * from "./huber_prob.ts";
export * from "./log_one_minus_prob.ts";
export * from "./neg_log_prob.ts";
export * from "./neg_prob.ts";
export * from "./neg_prob_power.ts";
export * from "./otr.ts";
export * from "./threshold.ts";
export * from "./theory_checks.ts";
export * from "./thresholded_log_one_minus_prob.ts";
export * from "./thresholded_neg_log_prob.ts";
export * from "./thresholded_neg_prob.ts";

/** Every built-in objective, in the order `deno task list` shows them. */
export const objectives: ReadonlyArray<Objective<unknown>> = [
  negLogProb,
  negProb,
  generalFamily,
  negProbPower,
  logOneMinusProb,
  thresholdedNegLogProb,
  thresholdedNegProb,
  thresholdedLogOneMinusProb,
  dft,
  anchored,
  focal,
  huberProb,
  deft,
  gft,
  otr,
] as ReadonlyArray<Objective<unknown>>;
