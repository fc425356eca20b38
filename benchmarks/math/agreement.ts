/**
 * Agreement with a published grader: runs probsft's math reading and equivalence on another
 * grader's test cases (gold text, prediction text, that grader's verdict) and counts, by kind of
 * case, how often probsft gives the same verdict.
 *
 * Both texts are read the same way: a text that is one answer (a math span such as `$x \geq 5$`,
 * or a bare answer) is taken whole; a completion goes through {@link extractRawMathAnswer} in the
 * chosen mode. The verdict is {@link mathAnswersEqual}(prediction, gold).
 *
 * @module
 */
import { type ExtractionMode, extractRawMathAnswer } from "./answer.ts";
import { mathAnswersEqual } from "./equal.ts";

/** One published test case of a grader. */
export interface GraderCase {
  /** The grader whose test it is ("math-verify", "qwen2.5-math"). */
  readonly source: string;
  /** The test function it comes from. */
  readonly test: string;
  /** The kind of answer it exercises ("numbers", "intervals and sets", …). */
  readonly kind: string;
  /** The gold answer or solution text. */
  readonly gold: string;
  /** The prediction (an answer or a whole completion). */
  readonly prediction: string;
  /** That grader's verdict. */
  readonly expected: boolean;
}

/** probsft's verdict on one case. */
export interface CaseVerdict {
  /** The case. */
  readonly case: GraderCase;
  /** The answer read from the gold text (null when none). */
  readonly goldAnswer: string | null;
  /** The answer read from the prediction (null when none). */
  readonly predictedAnswer: string | null;
  /** probsft's verdict. */
  readonly verdict: boolean;
  /** Whether it equals the grader's. */
  readonly agrees: boolean;
}

/** Agreement over the cases of one kind. */
export interface KindAgreement {
  /** The grader. */
  readonly source: string;
  /** The kind. */
  readonly kind: string;
  /** Cases. */
  readonly cases: number;
  /** Cases where probsft's verdict equals the grader's. */
  readonly agree: number;
}

const wholeSpan = /^\s*(?:\$\$([\s\S]*)\$\$|\$([^$]*)\$|\\\(([\s\S]*)\\\)|\\\[([\s\S]*)\\\])\s*$/;

/**
 * Reads the answer of a gold or predicted text: a text that is one math span, or that has no
 * box, no math delimiter and no sentence in it (no two words in a row outside LaTeX), is the
 * answer itself; any other text is a completion and goes through extraction.
 *
 * @param text The text.
 * @param mode The extraction mode for completions.
 * @returns The raw answer, or null.
 */
export function readAnswerText(text: string, mode: ExtractionMode): string | null {
  const span = wholeSpan.exec(text);
  if (span) {
    const inner = (span[1] ?? span[2] ?? span[3] ?? span[4] ?? "").trim();
    return /\\boxed/.test(inner) ? extractRawMathAnswer(inner, mode) : inner;
  }
  const prose = text.replace(/\\[A-Za-z]+\{[^}]*\}|\\[A-Za-z]+/g, " ");
  const delimited = /\$|\\\(|\\\[/.test(text.replaceAll("\\$", ""));
  if (!/\\boxed/.test(text) && !delimited && !/[A-Za-z]{2,}[ ,:]+[A-Za-z]{2,}/.test(prose)) {
    return text.trim();
  }
  return extractRawMathAnswer(text, mode);
}

/**
 * probsft's verdict on one published case.
 *
 * @param graderCase The case.
 * @param mode The extraction mode.
 * @returns The answers read and the verdict.
 */
export function judgeCase(graderCase: GraderCase, mode: ExtractionMode = "qwen"): CaseVerdict {
  const goldAnswer = readAnswerText(graderCase.gold, mode);
  const predictedAnswer = readAnswerText(graderCase.prediction, mode);
  const verdict = goldAnswer !== null && predictedAnswer !== null &&
    mathAnswersEqual(predictedAnswer, goldAnswer);
  return {
    case: graderCase,
    goldAnswer,
    predictedAnswer,
    verdict,
    agrees: verdict === graderCase.expected,
  };
}

/**
 * Counts agreement by grader and kind, in the order kinds first appear.
 *
 * @param verdicts probsft's verdicts.
 * @returns One row per grader and kind.
 */
export function agreementByKind(verdicts: ReadonlyArray<CaseVerdict>): KindAgreement[] {
  const rows = new Map<string, { source: string; kind: string; cases: number; agree: number }>();
  for (const v of verdicts) {
    const key = `${v.case.source}\u0000${v.case.kind}`;
    const row = rows.get(key) ?? { source: v.case.source, kind: v.case.kind, cases: 0, agree: 0 };
    row.cases++;
    if (v.agrees) row.agree++;
    rows.set(key, row);
  }
  return [...rows.values()];
}
