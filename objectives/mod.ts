/**
 * The built-in objectives: per-token functions of the target token's probability p, each with its
 * formula, descent weight W_f(p) = −f′(p)·p·(1−p) and source in its own file.
 *
 * @module
 */
import type { Objective } from "../core/plugin.ts";
import { negLogProb } from "./neg_log_prob.ts";

export * from "./neg_log_prob.ts";

/** Every built-in objective, in the order `deno task list` shows them. */
export const objectives: ReadonlyArray<Objective<unknown>> = [
  negLogProb,
] as ReadonlyArray<Objective<unknown>>;
