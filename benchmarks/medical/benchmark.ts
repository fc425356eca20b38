/**
 * `multiple-choice`: 1 when the option letter read by {@link matchChoice} equals the reference
 * letter, else 0. The item carries its option texts in `options`.
 *
 * Example item: prompt "A patient has … Which condition? A. flu B. cold C. measles D. mumps",
 * reference "C"; the completion "… the answer is C" scores 1, and so does "… it is measles".
 *
 * @module
 */
import { Schema } from "effect";
import type { Benchmark, Example, ParamsSchema } from "../../core/plugin.ts";
import { matchChoice } from "./match_choice.ts";

/** Params of {@link multipleChoice}: none. */
export type MultipleChoiceParams = Record<string, never>;

const params: ParamsSchema<MultipleChoiceParams> = Schema.Record(Schema.String, Schema.Never);

/** The `multiple-choice` scoring rule (medical `match_choice`, last match). */
export const multipleChoice: Benchmark<MultipleChoiceParams> = {
  id: "multiple-choice",
  summary: "option letter read by match_choice (answer is X, letter, option text, similarity)",
  family: "medical",
  params,
  score(example: Example, completion: string): number {
    const letter = matchChoice(completion, example.options ?? []);
    return letter !== null && letter === example.reference.trim().toUpperCase() ? 1 : 0;
  },
};
