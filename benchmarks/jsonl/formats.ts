/**
 * Record formats of the `jsonl` domain, each turning one JSON object into an SFT pair and a test
 * item, with the prompt templates of the paper (§4.2: "Please reason step by step, and put your
 * final answer within \boxed{}."):
 *
 * - `math` (NuminaMath-CoT, MATH500): `problem` (or `question`), `solution`, `answer`. The test
 *   reference is `answer`, else the answer extracted from `solution`. A training solution without
 *   a `\boxed{}` gets "The final answer is $\boxed{answer}$." appended when `answer` is given.
 * - `choice` (MedQA, MedMCQA, PubMedQA): `question` (optional `context`), `options` as a list or
 *   an `{ "A": …, "B": … }` map, and the answer as a letter (`answer_idx`, `answer`, `label`), a
 *   0-based index, or the text of an option. Optional `explanation` (or `exp`, `response`,
 *   `solution`) precedes "The answer is X." in the SFT response.
 * - `pairs` (instruction data): `prompt` (or `instruction` plus optional `input`, or `question`)
 *   and `response` (or `output`, `answer`, `completion`).
 *
 * @module
 */
import { extractMathAnswer } from "../math/answer.ts";
import { optionLetters } from "../medical/match_choice.ts";

/** The instruction appended to math and multiple-choice prompts (paper §4.2). */
export const boxedInstruction =
  "Please reason step by step, and put your final answer within \\boxed{}.";

/** One record converted: the prompt, the SFT response, the test reference and options. */
export interface Converted {
  /** The prompt. */
  readonly prompt: string;
  /** The SFT response (training files). */
  readonly response: string;
  /** The reference answer (test files). */
  readonly reference: string;
  /** Option texts of a multiple-choice record. */
  readonly options?: ReadonlyArray<string>;
}

/** The record formats. */
export type RecordFormat = "math" | "choice" | "pairs";

type RecordValue = Readonly<Record<string, unknown>>;

function text(record: RecordValue, keys: ReadonlyArray<string>): string | undefined {
  for (const key of keys) {
    const value = record[key];
    if (typeof value === "string" && value.trim() !== "") return value;
    if (typeof value === "number" && Number.isFinite(value)) return String(value);
  }
  return undefined;
}

const missing = (keys: ReadonlyArray<string>): string =>
  `missing ${keys.map((k) => `"${k}"`).join(" or ")} (a non-empty string)`;

function mathRecord(record: RecordValue, training: boolean): Converted | string {
  const problem = text(record, ["problem", "question"]);
  if (problem === undefined) return missing(["problem", "question"]);
  const solution = text(record, ["solution"]);
  const answer = text(record, ["answer"]);
  if (training && solution === undefined) return missing(["solution"]);
  const reference = answer ?? (solution !== undefined ? extractMathAnswer(solution) : null);
  if (reference === null || reference === undefined) {
    return `no "answer" and none can be extracted from "solution"`;
  }
  let response = solution ?? "";
  if (response !== "" && !response.includes("boxed") && answer !== undefined) {
    response = `${response.trimEnd()}\nThe final answer is $\\boxed{${answer}}$.`;
  }
  return { prompt: `${problem.trim()}\n${boxedInstruction}`, response, reference };
}

function optionsOf(value: unknown): string[] | string {
  if (Array.isArray(value)) {
    if (!value.every((o) => typeof o === "string" || typeof o === "number")) {
      return `"options" must hold strings`;
    }
    return value.map(String);
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>);
    const letters = optionLetters(entries.length);
    const sorted = [...entries].sort(([a], [b]) => a.localeCompare(b));
    if (sorted.some(([key, v], i) => key.toUpperCase() !== letters[i] || typeof v !== "string")) {
      return `"options" map keys must be the letters A, B, … with string values`;
    }
    return sorted.map(([, v]) => v as string);
  }
  return `missing "options" (a list or an {"A": …} map)`;
}

function choiceRecord(record: RecordValue): Converted | string {
  const question = text(record, ["question"]);
  if (question === undefined) return missing(["question"]);
  const options = optionsOf(record.options);
  if (typeof options === "string") return options;
  if (options.length < 2 || options.length > 14) {
    return `"options" must have 2 to 14 entries, got ${options.length}`;
  }
  const letters = optionLetters(options.length);
  const given = record.answer_idx ?? record.answer ?? record.label;
  let letter: string | undefined;
  if (typeof given === "number" && Number.isInteger(given)) letter = letters[given];
  else if (typeof given === "string") {
    const t = given.trim();
    const bare = t.replace(/^\(?([A-Na-n])\)?\.?$/, "$1").toUpperCase();
    if (letters.includes(bare) && t.length <= 4) letter = bare;
    else {
      const k = options.findIndex((o) => o.trim().toLowerCase() === t.toLowerCase());
      if (k >= 0) letter = letters[k];
    }
  }
  if (given === undefined) return missing(["answer_idx", "answer", "label"]);
  if (letter === undefined) {
    return `answer ${JSON.stringify(given)} is not among the options ${letters.join("/")}`;
  }
  const context = text(record, ["context"]);
  const listed = options.map((o, i) => `${letters[i]}. ${o}`).join("\n");
  const prompt = `${
    context ? `${context.trim()}\n` : ""
  }${question.trim()}\n${listed}\n${boxedInstruction}`;
  const explanation = text(record, ["explanation", "exp", "response", "solution"]);
  const response = `${explanation ? `${explanation.trim()}\n` : ""}The answer is ${letter}.`;
  return { prompt, response, reference: letter, options };
}

function pairsRecord(record: RecordValue): Converted | string {
  const instruction = text(record, ["prompt", "instruction", "question"]);
  if (instruction === undefined) return missing(["prompt", "instruction", "question"]);
  const input = text(record, ["input"]);
  const response = text(record, ["response", "output", "answer", "completion"]);
  if (response === undefined) return missing(["response", "output", "answer", "completion"]);
  const prompt = input ? `${instruction.trim()}\n\n${input.trim()}` : instruction.trim();
  return { prompt, response, reference: response.trim() };
}

/**
 * Converts one record of a format.
 *
 * @param format The record format.
 * @param record The parsed JSON object.
 * @param training Whether it comes from the training file (a math solution is then required).
 * @returns The converted record, or a one-line reason it is malformed.
 */
export function convertRecord(
  format: RecordFormat,
  record: RecordValue,
  training: boolean,
): Converted | string {
  switch (format) {
    case "math":
      return mathRecord(record, training);
    case "choice":
      return choiceRecord(record);
    case "pairs":
      return pairsRecord(record);
  }
}
