/**
 * probsft: supervised fine-tuning of language models with probability-based objectives
 * (−log p, −p, −p^α, thresholded variants and their neighbours), after Li et al. 2025,
 * "Beyond Log Likelihood" (arXiv 2510.00526).
 *
 * This module exports the core contracts (objectives, backbones, benchmarks, domains, plugins),
 * the registry, the one loss reduction, the optimizer, and {@link lossAndGrad}, a scripting entry
 * for checking an objective from outside.
 *
 * @example The gradient of −p on one position
 * ```ts ignore
 * import { lossAndGrad } from "jsr:@probsft/probsft";
 * const { loss, gradLogits } = await lossAndGrad({
 *   objective: { id: "neg-prob" },
 *   logits: [[1, 2, 0.5]],
 *   targets: [1],
 * });
 * ```
 *
 * @module
 */
import { Effect } from "effect";
import { type LossAndGrad, lossAndGradOf } from "./core/loss.ts";
import type { PartChoice, Plugin } from "./core/plugin.ts";
import { makeRegistry } from "./core/registry.ts";
import { builtins } from "./plugins/builtins.ts";

export * from "./core/plugin.ts";
export * from "./core/errors.ts";
export * from "./core/registry.ts";
export * from "./core/loss.ts";
export * from "./core/ops.ts";
export * from "./core/optimizer.ts";
export * from "./core/decode.ts";
export * from "./core/backend/mod.ts";
export { builtins } from "./plugins/builtins.ts";
export { loadPlugin, loadPlugins } from "./plugins/load.ts";

/** Input of {@link lossAndGrad}. */
export interface LossAndGradRequest {
  /** The objective, as a config picks it. */
  readonly objective: PartChoice;
  /** Logits, positions × vocabulary. */
  readonly logits: ReadonlyArray<ReadonlyArray<number>>;
  /** Target id per position. */
  readonly targets: ReadonlyArray<number>;
  /** 1 = supervised, 0 = masked (default all 1). */
  readonly mask?: ReadonlyArray<number>;
  /** Frozen reference logits for objectives that need them (positions × vocabulary). */
  readonly referenceLogits?: ReadonlyArray<ReadonlyArray<number>>;
}

/**
 * The reduced loss of an objective on one sequence and its gradient with respect to the logits,
 * computed by the same code path that training uses (view, objective, the one reduction).
 *
 * @param input The objective choice, logits, targets and optional mask.
 * @param plugins The plugins to look the objective up in (default: the built-in plugin).
 * @returns The loss and d loss / d logits.
 */
export async function lossAndGrad(
  input: LossAndGradRequest,
  plugins: ReadonlyArray<Plugin> = [builtins],
): Promise<LossAndGrad> {
  const { part, params } = await Effect.runPromise(
    Effect.flatMap(
      makeRegistry(plugins),
      (registry) => registry.objective(input.objective, "lossAndGrad input"),
    ),
  );
  return await lossAndGradOf(part, params, {
    logits: input.logits,
    targets: input.targets,
    ...(input.mask ? { mask: input.mask } : {}),
    ...(input.referenceLogits ? { referenceLogits: input.referenceLogits } : {}),
  });
}
