/**
 * `jsonl`: a domain loaded from a user's local JSONL (or JSON array) files in one of the record
 * formats of {@link convertRecord}: `math`, `choice`, `pairs`, TRL's `prompt-completion` and
 * `messages` (conversational), `alpaca`, `sharegpt`; `auto` (the default) detects it from the
 * first training record. A natural-language domain (no `symbols`, no prior corpus).
 *
 * ```json
 * { "id": "jsonl", "params": { "format": "math", "train": "data/train.jsonl",
 *   "test": "data/math500.jsonl", "skipBad": true } }
 * ```
 *
 * - `math`: scored by `math-answer` (not strict), greedy and T = 1 avg@k; primary avg@k.
 * - `choice`: scored by `multiple-choice`, greedy.
 * - `pairs`, `prompt-completion`, `messages`, `alpaca`, `sharegpt`: scored by
 *   `normalized-match` on the (last) assistant answer, greedy; conversations are rendered with
 *   the model's chat template, and only their assistant turns are supervised.
 *
 * Training pairs whose prompt is also a test prompt are dropped (and the count logged), so the
 * test set stays held out.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { DataError } from "../../core/errors.ts";
import type {
  Decoding,
  Domain,
  DomainData,
  Example,
  ParamsSchema,
  PartChoice,
  SftExample,
} from "../../core/plugin.ts";
import { flag, positiveInt } from "../_params.ts";
import {
  type Converted,
  convertRecord,
  detectFormat,
  type RecordFormat,
  recordFormats,
} from "./formats.ts";
import { readRecords } from "./read.ts";

/** Params of {@link jsonl}. */
export interface JsonlParams {
  /** The record format, or `auto` to detect it from the training file's first record. */
  readonly format: RecordFormat | "auto";
  /** The training file (JSONL, or JSON array when it ends in `.json`). */
  readonly train: string;
  /** The test file; without one the domain only trains (no benchmark is scored). */
  readonly test?: string;
  /** Skip malformed records (counted and logged) instead of failing (default false). */
  readonly skipBad: boolean;
  /** Samples k of the math avg@k decoding at T = 1 (default 4; the paper uses 16). */
  readonly samples: number;
  /** Most new tokens per completion (default 1024). */
  readonly maxNewTokens: number;
}

const params: ParamsSchema<JsonlParams> = Schema.Struct({
  format: Schema.Literals(["auto", ...recordFormats]).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("auto" as const)),
  ),
  train: Schema.String.check(Schema.isNonEmpty()),
  test: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  skipBad: flag(false),
  samples: positiveInt(4),
  maxNewTokens: positiveInt(1024),
});

const scorers: Readonly<Record<RecordFormat, PartChoice>> = {
  math: { id: "math-answer", params: { strict: false } },
  choice: { id: "multiple-choice", params: {} },
  pairs: { id: "normalized-match", params: {} },
  text: { id: "normalized-match", params: {} },
  "prompt-completion": { id: "normalized-match", params: {} },
  messages: { id: "normalized-match", params: {} },
  alpaca: { id: "normalized-match", params: {} },
  sharegpt: { id: "normalized-match", params: {} },
};

/**
 * Reads a training file in a format (detected from its first record for `auto`, and logged).
 *
 * @param file The JSONL or JSON file.
 * @param format The format or `auto`.
 * @param skipBad Skip malformed records.
 * @returns The format used and the converted records.
 */
export function readSft(
  file: string,
  format: RecordFormat | "auto",
  skipBad: boolean,
): Effect.Effect<{ format: RecordFormat; records: ReadonlyArray<Converted> }, DataError> {
  return Effect.gen(function* () {
    let chosen: RecordFormat | undefined = format === "auto" ? undefined : format;
    let reason = "";
    const train = yield* readRecords(file, (r) => {
      if (chosen === undefined) {
        const detected = detectFormat(r);
        if (!recordFormats.includes(detected as RecordFormat)) {
          reason = detected;
          return detected;
        }
        chosen = detected as RecordFormat;
      }
      return convertRecord(chosen, r, true);
    }, skipBad);
    if (chosen === undefined) {
      return yield* new DataError({ message: `Cannot load ${file}: ${reason}`, file });
    }
    if (format === "auto") yield* Effect.logInfo(`${file}: format ${chosen} (detected)`);
    return { format: chosen, records: train.records };
  });
}

function sftOf(r: Converted): SftExample {
  return {
    prompt: r.prompt,
    response: r.response,
    ...(r.messages ? { messages: r.messages } : {}),
  };
}

function baseName(file: string): string {
  return file.split(/[\\/]/).at(-1) ?? file;
}

/**
 * Loads the `jsonl` domain's data.
 *
 * @param options The params.
 * @returns The domain data, or a one-line {@link DataError}.
 */
export function loadJsonl(options: JsonlParams): Effect.Effect<DomainData, DataError> {
  return Effect.gen(function* () {
    const train = yield* readSft(options.train, options.format, options.skipBad);
    const format = train.format;
    if (options.test === undefined) {
      return {
        priorCorpus: [],
        sft: train.records.map(sftOf),
        benchmarks: [],
        primary: "",
      };
    }
    if (format === "text") {
      return yield* new DataError({
        message:
          `${options.train} is plain text (format text): it has no answers to score; fine-tune on it with deno task sft`,
        file: options.train,
      });
    }
    const test = yield* readRecords(
      options.test,
      (r) => convertRecord(format, r, false),
      options.skipBad,
    );
    const name = baseName(options.test);
    const examples: Example[] = test.records.map((r: Converted, i) => ({
      id: `${name}:${i + 1}`,
      prompt: r.prompt,
      reference: r.reference,
      ...(r.options ? { options: r.options } : {}),
      ...(r.promptMessages ? { messages: r.promptMessages } : {}),
    }));
    const held = new Set(examples.map((e) => e.prompt));
    const sft = train.records.filter((r) => !held.has(r.prompt))
      .map(sftOf);
    const overlap = train.records.length - sft.length;
    if (sft.length === 0) {
      return yield* new DataError({
        message: `Cannot use ${options.train}: every training prompt is also in ${options.test}`,
        file: options.train,
      });
    }
    if (overlap > 0) {
      yield* Effect.logWarning(
        `Dropped ${overlap} training record(s) of ${options.train} whose prompt is in the test set`,
      );
    }
    const greedy: Decoding = {
      name: "greedy",
      temperature: 0,
      samples: 1,
      maxNewTokens: options.maxNewTokens,
    };
    const decodings: Decoding[] = [greedy];
    if (format === "math") {
      decodings.push({
        name: `avg@${options.samples}`,
        temperature: 1,
        samples: options.samples,
        maxNewTokens: options.maxNewTokens,
        topP: 1,
      });
    }
    return {
      priorCorpus: [],
      sft,
      benchmarks: [{ name: "test", benchmark: scorers[format], examples, decodings }],
      primary: `test/${decodings.at(-1)!.name}`,
    };
  });
}

/** The `jsonl` domain: a user's math, multiple-choice or instruction data from local files. */
export const jsonl: Domain<JsonlParams> = {
  id: "jsonl",
  summary:
    "a user's local JSONL/JSON data: math, choice, pairs, TRL (prompt-completion, messages), Alpaca, ShareGPT",
  params,
  benchmarks: ["math-answer", "multiple-choice", "normalized-match"],
  load(options: JsonlParams): Effect.Effect<DomainData, DataError> {
    return loadJsonl(options);
  },
};
