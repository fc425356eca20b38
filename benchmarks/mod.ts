/**
 * The built-in benchmarks (scoring rules) and domains, and the scorers they are built from:
 * math answer extraction (Qwen2.5-Math order, or strict) and equivalence on a computer-algebra
 * system, agreement with published graders' test cases, the medical `matchChoice`, Jaro–Winkler, exact
 * match, and the greedy / avg@k metric helpers.
 *
 * @example Scoring a math completion
 * ```ts ignore
 * import { extractMathAnswer, mathAnswersEqual } from "jsr:@probsft/probsft/benchmarks";
 * mathAnswersEqual(extractMathAnswer("so \\boxed{\\dfrac{1}{2}}") ?? "", "0.5"); // true
 * ```
 *
 * @module
 */
// Starts the default tensor backend, so that this entry works with no set-up call.
import "../core/backend/mod.ts";
import type { Benchmark, Domain } from "../core/plugin.ts";
import { addition } from "./math/addition.ts";
import { mathAnswer } from "./math/benchmark.ts";
import { boxedNumber } from "./math/boxed_number.ts";
import { cipher } from "./cipher/glyphs.ts";
import { exactMatch } from "./cipher/exact_match.ts";
import { jaroWinklerBenchmark } from "./cipher/jaro_winkler.ts";
import { multipleChoice } from "./medical/benchmark.ts";
import { medical } from "./medical/cases.ts";
import { normalizedMatch } from "./general/normalized_match.ts";
import { general } from "./general/tasks.ts";
import { jsonl } from "./jsonl/domain.ts";
import { teacher } from "./teacher/linear_teacher.ts";

export {
  extractBoxed,
  type ExtractionMode,
  extractMathAnswer,
  extractRawMathAnswer,
} from "./math/answer.ts";
export { normalizeMathAnswer } from "./math/normalize.ts";
export { type MathValue, readMathValue } from "./math/structure.ts";
export { mathAnswersEqual, type MathEqualOptions, valuesEqual } from "./math/equal.ts";
export { expressionsEqual, withTimeBound } from "./math/cas.ts";
export {
  agreementByKind,
  type CaseVerdict,
  type GraderCase,
  judgeCase,
  type KindAgreement,
  readAnswerText,
} from "./math/agreement.ts";
export { mathAnswer, type MathAnswerParams, readMathAnswer } from "./math/benchmark.ts";
export { addition, type AdditionParams, generateAddition } from "./math/addition.ts";
export { boxedNumber, type BoxedNumberParams, readBoxedNumber } from "./math/boxed_number.ts";
export { jaro, jaroWinkler, jaroWinklerBenchmark } from "./cipher/jaro_winkler.ts";
export type { JaroWinklerParams } from "./cipher/jaro_winkler.ts";
export { exactlyEqual, exactMatch, type ExactMatchParams } from "./cipher/exact_match.ts";
export { cipher, type CipherParams, generateCipher } from "./cipher/glyphs.ts";
export {
  type ChoiceMatch,
  type ChoiceRule,
  matchChoice,
  matchChoiceDetailed,
  optionLetters,
  similarityRatio,
} from "./medical/match_choice.ts";
export { multipleChoice, type MultipleChoiceParams } from "./medical/benchmark.ts";
export { generateMedical, medical, type MedicalParams } from "./medical/cases.ts";
export {
  answerCandidates,
  normalizeAnswerText,
  normalizedMatch,
  type NormalizedMatchParams,
} from "./general/normalized_match.ts";
export { general, type GeneralParams, generateGeneral } from "./general/tasks.ts";
export { jsonl, type JsonlParams, loadJsonl } from "./jsonl/domain.ts";
export { boxedInstruction, convertRecord, type RecordFormat } from "./jsonl/formats.ts";
export {
  averageMetrics,
  avgAtK,
  greedyAccuracy,
  type MetricAverage,
  type MetricValue,
} from "./metrics.ts";

/** Every built-in benchmark (scoring rule). */
export const benchmarks: ReadonlyArray<Benchmark<unknown>> = [
  mathAnswer,
  boxedNumber,
  exactMatch,
  jaroWinklerBenchmark,
  multipleChoice,
  normalizedMatch,
] as ReadonlyArray<Benchmark<unknown>>;

/** Every built-in domain. */
export const domains: ReadonlyArray<Domain<unknown>> = [
  addition,
  cipher,
  medical,
  general,
  jsonl,
  teacher,
] as ReadonlyArray<Domain<unknown>>;
