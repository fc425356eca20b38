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
 * And the formats of TRL, LLaMA-Factory and axolotl users:
 *
 * - `text` (TRL language modelling): `text`; every token is supervised; no test scoring.
 * - `prompt-completion` (TRL): `prompt` and `completion` strings; the completion is supervised.
 * - `messages` (TRL conversational): `messages` as `[{ role, content }]`; assistant turns are
 *   supervised; or TRL's conversational prompt-completion, `prompt` and `completion` as message
 *   lists, where only the completion's messages are supervised. The test reference is the last
 *   assistant turn and the prompt the messages before it.
 * - `alpaca`: `instruction`, optional `input` (joined by a newline, as LLaMA-Factory does),
 *   `output`; optional `system` and `history` (`[[query, response], …]`) make it a conversation.
 * - `sharegpt`: `conversations` as `[{ from, value }]` with `from` in human/user, gpt/assistant,
 *   system; optional `system`. Assistant turns are supervised.
 *
 * Conversations are rendered with the model's chat template (a model without one cannot train
 * on them: the error names the model). {@link detectFormat} picks a format from a record's
 * fields for `format: "auto"`.
 *
 * @module
 */
import type { ChatMessage, SftMessage } from "../../core/plugin.ts";
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
  /** The whole conversation with the supervised messages marked (conversational formats). */
  readonly messages?: ReadonlyArray<SftMessage>;
  /** The test prompt as a conversation: the messages before the last assistant turn. */
  readonly promptMessages?: ReadonlyArray<ChatMessage>;
}

/** The record formats. */
export type RecordFormat =
  | "math"
  | "choice"
  | "pairs"
  | "text"
  | "prompt-completion"
  | "messages"
  | "alpaca"
  | "sharegpt";

/** Every record format, in the order {@link detectFormat} tries them. */
export const recordFormats: ReadonlyArray<RecordFormat> = [
  "messages",
  "sharegpt",
  "alpaca",
  "prompt-completion",
  "math",
  "choice",
  "pairs",
  "text",
];

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

type Message = { role: string; content: string; train?: boolean };

function messageList(value: unknown, field: string): Message[] | string {
  if (!Array.isArray(value) || value.length === 0) {
    return `"${field}" must be a non-empty list of {"role", "content"} messages`;
  }
  const out: Message[] = [];
  for (const [i, m] of value.entries()) {
    const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
    if (typeof role !== "string" || role === "") {
      return `${field}[${i}].role must be a non-empty string, got ${JSON.stringify(role ?? null)}`;
    }
    if (typeof content !== "string") {
      return `${field}[${i}].content must be a string (multimodal content lists are not supported), got ${
        JSON.stringify(content ?? null).slice(0, 40)
      }`;
    }
    out.push({ role, content });
  }
  return out;
}

/** A conversation as a converted record: the test prompt is everything before the last answer. */
function conversation(messages: ReadonlyArray<Message>): Converted | string {
  const last = messages.findLastIndex((m) => m.train ?? m.role === "assistant");
  if (last < 0) return "the conversation has no assistant message to learn from";
  const promptMessages = messages.slice(0, last).map(({ role, content }) => ({ role, content }));
  const firstUser = promptMessages.find((m) => m.role === "user");
  return {
    prompt: firstUser?.content ?? promptMessages.map((m) => m.content).join("\n"),
    response: messages[last]!.content,
    reference: messages[last]!.content.trim(),
    messages,
    promptMessages,
  };
}

function messagesRecord(record: RecordValue): Converted | string {
  if (record.messages !== undefined) {
    const messages = messageList(record.messages, "messages");
    return typeof messages === "string" ? messages : conversation(messages);
  }
  const prompt = messageList(record.prompt, "prompt");
  if (typeof prompt === "string") return prompt;
  const completion = messageList(record.completion, "completion");
  if (typeof completion === "string") return completion;
  return conversation([
    ...prompt.map((m) => ({ ...m, train: false })),
    ...completion.map((m) => ({ ...m, train: true })),
  ]);
}

const shareGptRoles: Readonly<Record<string, string>> = {
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  system: "system",
};

function shareGptRecord(record: RecordValue): Converted | string {
  const turns = record.conversations;
  if (!Array.isArray(turns) || turns.length === 0) {
    return `"conversations" must be a non-empty list of {"from", "value"} turns`;
  }
  const messages: Message[] = [];
  const system = text(record, ["system"]);
  if (system !== undefined) messages.push({ role: "system", content: system });
  for (const [i, turn] of turns.entries()) {
    const { from, value } = (turn ?? {}) as { from?: unknown; value?: unknown };
    const role = typeof from === "string" ? shareGptRoles[from] : undefined;
    if (role === undefined) {
      return `conversations[${i}].from ${JSON.stringify(from ?? null)} is not one of ${
        Object.keys(shareGptRoles).join(", ")
      }`;
    }
    if (typeof value !== "string") {
      return `conversations[${i}].value must be a string, got ${JSON.stringify(value ?? null)}`;
    }
    messages.push({ role, content: value });
  }
  return conversation(messages);
}

function alpacaRecord(record: RecordValue): Converted | string {
  const instruction = text(record, ["instruction"]);
  if (instruction === undefined) return missing(["instruction"]);
  const output = text(record, ["output"]);
  if (output === undefined) return missing(["output"]);
  const input = text(record, ["input"]);
  const query = input ? `${instruction}\n${input}` : instruction;
  const system = text(record, ["system"]);
  const history = record.history ?? [];
  if (!Array.isArray(history)) return `"history" must be a list of [query, response] pairs`;
  if (system === undefined && history.length === 0) {
    return { prompt: query, response: output, reference: output.trim() };
  }
  const messages: Message[] = system === undefined ? [] : [{ role: "system", content: system }];
  for (const [i, pair] of history.entries()) {
    if (!Array.isArray(pair) || pair.length !== 2 || pair.some((x) => typeof x !== "string")) {
      return `history[${i}] must be a [query, response] pair of strings`;
    }
    messages.push({ role: "user", content: pair[0] }, { role: "assistant", content: pair[1] });
  }
  messages.push({ role: "user", content: query }, { role: "assistant", content: output });
  return conversation(messages);
}

function textRecord(record: RecordValue): Converted | string {
  const value = record.text;
  if (typeof value !== "string" || value.trim() === "") return missing(["text"]);
  return { prompt: "", response: value, reference: "" };
}

function promptCompletionRecord(record: RecordValue): Converted | string {
  if (typeof record.prompt !== "string") return `"prompt" must be a string`;
  if (typeof record.completion !== "string" || record.completion === "") {
    return missing(["completion"]);
  }
  return {
    prompt: record.prompt,
    response: record.completion,
    reference: record.completion.trim(),
  };
}

/**
 * The format a record's fields say (for `format: "auto"`), or a one-line reason.
 *
 * @param record A parsed JSON object (the first record of a file).
 * @returns The format, or why none fits.
 */
export function detectFormat(record: RecordValue): RecordFormat | string {
  const has = (key: string) => record[key] !== undefined;
  if (has("messages") || (Array.isArray(record.prompt) && Array.isArray(record.completion))) {
    return "messages";
  }
  if (has("conversations")) return "sharegpt";
  if (has("instruction") && has("output")) return "alpaca";
  if (typeof record.prompt === "string" && typeof record.completion === "string") {
    return "prompt-completion";
  }
  if ((has("problem") || has("question")) && has("solution")) return "math";
  if (has("question") && has("options")) return "choice";
  if ((has("prompt") || has("question")) && (has("response") || has("answer"))) return "pairs";
  if (typeof record.text === "string") return "text";
  return `cannot tell the format from the fields ${
    JSON.stringify(Object.keys(record).slice(0, 8))
  }; set "format" to one of ${recordFormats.join(", ")}`;
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
    case "text":
      return textRecord(record);
    case "prompt-completion":
      return promptCompletionRecord(record);
    case "messages":
      return messagesRecord(record);
    case "alpaca":
      return alpacaRecord(record);
    case "sharegpt":
      return shareGptRecord(record);
  }
}
