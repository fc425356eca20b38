/**
 * `normalized-match`: the scoring rule for general question answering and instruction pairs. The
 * completion's answer (the text after the last "answer is" or "Answer:", else the whole
 * completion, else its last non-empty line) equals the reference after normalisation: lowercase,
 * punctuation and the articles a/an/the removed, whitespace collapsed (the SQuAD convention).
 *
 * Example item: prompt "What is the capital of France?", reference "Paris"; the completions
 * "Paris." and "The answer is paris" score 1.
 *
 * @module
 */
import { Schema } from "effect";
import type { Benchmark, Example, ParamsSchema } from "../../core/plugin.ts";

/** Params of {@link normalizedMatch}: none. */
export type NormalizedMatchParams = Record<string, never>;

const params: ParamsSchema<NormalizedMatchParams> = Schema.Record(Schema.String, Schema.Never);

/**
 * Normalises a short answer: lowercase, punctuation and articles removed, whitespace collapsed.
 *
 * @param text An answer.
 * @returns The normal form.
 */
export function normalizeAnswerText(text: string): string {
  return text.toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, " ")
    .replace(/\b(a|an|the)\b/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * The candidate answers of a completion: after the last "answer is" / "Answer:", the whole text,
 * and its last non-empty line.
 *
 * @param completion The model's text.
 * @returns The candidates, most specific first.
 */
export function answerCandidates(completion: string): string[] {
  const out: string[] = [];
  const marker = [...completion.matchAll(/answer(?: is|\s*:)/gi)].at(-1);
  if (marker) out.push(completion.slice(marker.index! + marker[0].length));
  out.push(completion);
  const lines = completion.split("\n").filter((l) => l.trim() !== "");
  if (lines.length > 1) out.push(lines.at(-1)!);
  return out;
}

/** The `normalized-match` scoring rule (general QA and instruction pairs). */
export const normalizedMatch: Benchmark<NormalizedMatchParams> = {
  id: "normalized-match",
  summary:
    "answer equals the reference after SQuAD-style normalisation (case, punctuation, a/an/the)",
  family: "general",
  params,
  score(example: Example, completion: string): number {
    const reference = normalizeAnswerText(example.reference);
    if (reference === "") return 0;
    return answerCandidates(completion).some((c) => normalizeAnswerText(c) === reference) ? 1 : 0;
  },
};
