/**
 * `boxed-number`: the strict scoring rule of the synthetic arithmetic domains. A completion scores
 * 1 only when it ends with the answer marker, the exact digits, the closing brace and nothing
 * else:
 *
 * ```text
 * … ; \boxed{ 8 4 9 }      1 (spaced symbols: digits joined by single spaces)
 * … ; \boxed{ 8 4 9        0 (no closing brace)
 * … ; \boxed{ 8 4 9 } 7    0 (text after the brace)
 * … ; \boxed{ 0 8 4 9 }    0 (a leading zero)
 * … ; \boxed{ 8 4 9 0 0 }  0 (other digits: a factor of 100 is a wrong answer)
 * … ; A 8 4 9              0 (the old marker)
 * ```
 *
 * Only trailing whitespace may follow the brace. What precedes the marker (the rationale) is not
 * read. The reference is an integer written in digits (an optional leading `-`).
 *
 * @module
 */
import { Schema } from "effect";
import type { Benchmark, Example, ParamsSchema } from "../../core/plugin.ts";
import { flag } from "../_params.ts";

/** Params of {@link boxedNumber}. */
export interface BoxedNumberParams {
  /**
   * The completion is symbol text: `\boxed{ 8 4 9 }`, one space around and between the digits
   * (default false: `\boxed{849}`, no spaces).
   */
  readonly spaced: boolean;
}

const params: ParamsSchema<BoxedNumberParams> = Schema.Struct({ spaced: flag(false) });

const spacedForm = /\\boxed\{ (-?(?:\d )+)\}\s*$/;
const plainForm = /\\boxed\{(-?\d+)\}\s*$/;

/**
 * The number a completion states in the strict format, or null when it does not end with it.
 *
 * @example
 * ```ts ignore
 * readBoxedNumber("2 + 6 + 0 = 0 8 ; \\boxed{ 8 4 9 }", true); // "849"
 * readBoxedNumber("\\boxed{ 8 4 9", true); // null
 * ```
 *
 * @param completion The model's text.
 * @param spaced Symbol text (digits joined by single spaces).
 * @returns The digits (with a leading `-` when negative), or null.
 */
export function readBoxedNumber(completion: string, spaced: boolean): string | null {
  const m = (spaced ? spacedForm : plainForm).exec(completion);
  if (m === null) return null;
  const digits = m[1]!.replaceAll(" ", "");
  const body = digits.replace(/^-/, "");
  if (body.length > 1 && body.startsWith("0")) return null; // leading zeros
  return digits === "-0" ? null : digits;
}

/** The `boxed-number` scoring rule: marker, exact digits, closing brace, end of text. */
export const boxedNumber: Benchmark<BoxedNumberParams> = {
  id: "boxed-number",
  summary:
    "ends with \\boxed{digits} holding exactly the reference integer (strict synthetic format)",
  family: "math",
  params,
  score(example: Example, completion: string, options: BoxedNumberParams): number {
    const stated = readBoxedNumber(completion, options.spaced);
    return stated !== null && stated === example.reference.trim() ? 1 : 0;
  },
};
