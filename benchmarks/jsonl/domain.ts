/**
 * `jsonl`: a domain loaded from a user's local JSONL (or JSON array) files in one of the record
 * formats of {@link convertRecord}: `math`, `choice` or `pairs`. A natural-language domain (no
 * `symbols`, no prior corpus).
 *
 * ```json
 * { "id": "jsonl", "params": { "format": "math", "train": "data/train.jsonl",
 *   "test": "data/math500.jsonl", "skipBad": true } }
 * ```
 *
 * - `math`: scored by `math-answer` (not strict), greedy and T = 1 avg@k; primary avg@k.
 * - `choice`: scored by `multiple-choice`, greedy.
 * - `pairs`: scored by `normalized-match`, greedy.
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
} from "../../core/plugin.ts";
import { flag, positiveInt } from "../_params.ts";
import { type Converted, convertRecord, type RecordFormat } from "./formats.ts";
import { readRecords } from "./read.ts";

/** Params of {@link jsonl}. */
export interface JsonlParams {
  /** The record format. */
  readonly format: RecordFormat;
  /** The training file (JSONL, or JSON array when it ends in `.json`). */
  readonly train: string;
  /** The test file. */
  readonly test: string;
  /** Skip malformed records (counted and logged) instead of failing (default false). */
  readonly skipBad: boolean;
  /** Samples k of the math avg@k decoding at T = 1 (default 4; the paper uses 16). */
  readonly samples: number;
  /** Most new tokens per completion (default 1024). */
  readonly maxNewTokens: number;
}

const params: ParamsSchema<JsonlParams> = Schema.Struct({
  format: Schema.Literals(["math", "choice", "pairs"]),
  train: Schema.String.check(Schema.isNonEmpty()),
  test: Schema.String.check(Schema.isNonEmpty()),
  skipBad: flag(false),
  samples: positiveInt(4),
  maxNewTokens: positiveInt(1024),
});

const scorers: Readonly<Record<RecordFormat, PartChoice>> = {
  math: { id: "math-answer", params: { strict: false } },
  choice: { id: "multiple-choice", params: {} },
  pairs: { id: "normalized-match", params: {} },
};

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
    const train = yield* readRecords(
      options.train,
      (r) => convertRecord(options.format, r, true),
      options.skipBad,
    );
    const test = yield* readRecords(
      options.test,
      (r) => convertRecord(options.format, r, false),
      options.skipBad,
    );
    const name = baseName(options.test);
    const examples: Example[] = test.records.map((r: Converted, i) => ({
      id: `${name}:${i + 1}`,
      prompt: r.prompt,
      reference: r.reference,
      ...(r.options ? { options: r.options } : {}),
    }));
    const held = new Set(examples.map((e) => e.prompt));
    const sft = train.records.filter((r) => !held.has(r.prompt))
      .map((r) => ({ prompt: r.prompt, response: r.response }));
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
    if (options.format === "math") {
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
      benchmarks: [{ name: "test", benchmark: scorers[options.format], examples, decodings }],
      primary: `test/${decodings.at(-1)!.name}`,
    };
  });
}

/** The `jsonl` domain: a user's math, multiple-choice or instruction data from local files. */
export const jsonl: Domain<JsonlParams> = {
  id: "jsonl",
  summary:
    "a user's local JSONL/JSON data: math (boxed answers), choice (A-D) or prompt/response pairs",
  params,
  benchmarks: ["math-answer", "multiple-choice", "normalized-match"],
  load(options: JsonlParams): Effect.Effect<DomainData, DataError> {
    return loadJsonl(options);
  },
};
