/**
 * `math-answer`: scores a math completion 1 when its final answer equals the reference
 * ({@link extractMathAnswer} in its `"qwen"` mode, or only a `\boxed{…}` answer when strict, then
 * {@link mathAnswersEqual} on the Compute Engine), else 0.
 *
 * Example item: prompt "What is 1/2 + 1/4? Please reason step by step, and put your final answer
 * within \boxed{}.", reference "\frac{3}{4}"; the completion "… = \boxed{0.75}" scores 1.
 *
 * @module
 */
import { Schema } from "effect";
import type { Benchmark, Example, ParamsSchema } from "../../core/plugin.ts";
import { flag } from "../_params.ts";
import { extractBoxed, extractMathAnswer } from "./answer.ts";
import { normalizeMathAnswer } from "./normalize.ts";
import { mathAnswersEqual } from "./equal.ts";

/** Params of {@link mathAnswer}. */
export interface MathAnswerParams {
  /**
   * Only a `\boxed{…}` answer counts (default false); an answer in any other format scores 0.
   * The paper's strict format check for its synthetic tasks.
   */
  readonly strict: boolean;
  /**
   * The completion is symbol text (one symbol per token, joined by spaces), so digits separated
   * by single spaces are joined before extraction: `A 8 4 9` reads as `A 849` (default false).
   */
  readonly spaced: boolean;
}

const params: ParamsSchema<MathAnswerParams> = Schema.Struct({
  strict: flag(false),
  spaced: flag(false),
});

/**
 * The answer a `math-answer` benchmark reads from a completion under its params, or null.
 *
 * @param completion The model's text.
 * @param options The benchmark's params.
 * @returns The normalised answer, or null when there is none (or, strict, no `\boxed`).
 */
export function readMathAnswer(completion: string, options: MathAnswerParams): string | null {
  const text = options.spaced ? completion.replace(/(\d) (?=\d)/g, "$1") : completion;
  if (!options.strict) return extractMathAnswer(text);
  const boxed = extractBoxed(text);
  if (boxed === null || !/boxed\s*\{/.test(text)) return null; // `\boxed 5` is not the format
  const normal = normalizeMathAnswer(boxed);
  return normal === "" ? null : normal;
}

/** The `math-answer` scoring rule (Qwen2.5-Math extraction order, equivalence on a CAS). */
export const mathAnswer: Benchmark<MathAnswerParams> = {
  id: "math-answer",
  summary:
    "final math answer (last \\boxed{}, Qwen2.5-Math order) equals the reference on a CAS (Compute Engine)",
  family: "math",
  params,
  score(example: Example, completion: string, options: MathAnswerParams): number {
    const answer = readMathAnswer(completion, options);
    return answer !== null && mathAnswersEqual(answer, example.reference) ? 1 : 0;
  },
};
