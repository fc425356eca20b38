/**
 * `deno task score --data FILE --completions FILE [--format F] [--benchmark ID] [--json]`: grades
 * completions produced elsewhere (vLLM, transformers, an API) with probsft's graders and reports
 * the first-sample accuracy and avg@k, so results can be checked without training here.
 *
 * - `--data`: the test set, in a record format of the `jsonl` domain (`math`, `choice`, `pairs`,
 *   …; `auto` detects it from the first record).
 * - `--completions`: JSON Lines (or a JSON array), one object per test item, either
 *   `{"completion": "…"}` or `{"completions": ["…", …]}` (k samples; every item the same k), with
 *   an optional `"index"` (0-based position in the data file) or `"id"` (the data record's `id`,
 *   `unique_id` or `idx` field); without either, line n grades record n.
 * - `--benchmark`: a built-in scoring rule to use instead of the format's (`math-answer` for math,
 *   `multiple-choice` for choice, `normalized-match` otherwise), with its default params.
 *
 * A malformed line ends with one line naming the file, the line, the field and the bad value.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { ConfigError, DataError, showValue } from "../core/errors.ts";
import type { Benchmark, Example } from "../core/plugin.ts";
import { benchmarks } from "../benchmarks/mod.ts";
import { avgAtK } from "../benchmarks/metrics.ts";
import {
  type Converted,
  convertRecord,
  detectFormat,
  type RecordFormat,
  recordFormats,
} from "../benchmarks/jsonl/formats.ts";
import { readRecords } from "../benchmarks/jsonl/read.ts";
import { type Command, parseFlags } from "./flags.ts";

/** The scoring rule each record format is graded by. */
const defaultBenchmark: Readonly<Record<RecordFormat, string>> = {
  math: "math-answer",
  choice: "multiple-choice",
  pairs: "normalized-match",
  text: "normalized-match",
  "prompt-completion": "normalized-match",
  messages: "normalized-match",
  alpaca: "normalized-match",
  sharegpt: "normalized-match",
};

/** One line of the completions file. */
interface CompletionLine {
  readonly line: number;
  readonly index?: number;
  readonly id?: string;
  readonly samples: ReadonlyArray<string>;
}

/** Reads one completions record, or says which field is wrong and how. */
function completionLine(record: Readonly<Record<string, unknown>>, line: number) {
  const { completion, completions, index, id } = record;
  let samples: string[];
  if (completions !== undefined) {
    if (!Array.isArray(completions) || completions.length === 0) {
      return `field "completions" must be a non-empty array of strings, got ${
        showValue(completions)
      }`;
    }
    const bad = completions.findIndex((c) => typeof c !== "string");
    if (bad >= 0) {
      return `field "completions[${bad}]" must be a string, got ${showValue(completions[bad])}`;
    }
    samples = completions as string[];
  } else if (completion !== undefined) {
    if (typeof completion !== "string") {
      return `field "completion" must be a string, got ${showValue(completion)}`;
    }
    samples = [completion];
  } else return `needs a field "completion" (a string) or "completions" (an array of strings)`;
  if (index !== undefined && (!Number.isInteger(index) || (index as number) < 0)) {
    return `field "index" must be a 0-based integer, got ${showValue(index)}`;
  }
  if (id !== undefined && typeof id !== "string" && typeof id !== "number") {
    return `field "id" must be a string or a number, got ${showValue(id)}`;
  }
  return {
    line,
    samples,
    ...(index !== undefined ? { index: index as number } : {}),
    ...(id !== undefined ? { id: String(id) } : {}),
  };
}

/** The test set: its records in the chosen format, with each record's own id when it has one. */
function readData(file: string, format: RecordFormat | "auto") {
  return Effect.gen(function* () {
    let chosen: RecordFormat | undefined = format === "auto" ? undefined : format;
    const read = yield* readRecords(file, (r) => {
      if (chosen === undefined) {
        const detected = detectFormat(r);
        if (!recordFormats.includes(detected as RecordFormat)) return detected;
        chosen = detected as RecordFormat;
      }
      const converted = convertRecord(chosen, r, false);
      if (typeof converted === "string") return converted;
      const own = r.id ?? r.unique_id ?? r.idx;
      return { converted, id: own === undefined ? undefined : String(own) };
    }, false);
    return { format: chosen!, records: read.records };
  });
}

/**
 * The 1-based line of each record of a JSON Lines file (blank lines hold none); empty for a JSON
 * array or an unreadable (e.g. gzipped) file, where the record number is used instead.
 */
function physicalLines(file: string): number[] {
  try {
    const text = Deno.readTextFileSync(file);
    if (text.trimStart().startsWith("[")) return [];
    return text.split("\n").flatMap((line, i) => line.trim() === "" ? [] : [i + 1]);
  } catch {
    return [];
  }
}

/** The per-item result of a score run. */
export interface ScoredItem {
  /** 0-based position in the data file. */
  readonly index: number;
  /** The reference. */
  readonly reference: string;
  /** One score per completion. */
  readonly scores: ReadonlyArray<number>;
}

/** The score command. */
export const scoreCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("score", args, {
      data: { type: "string" },
      completions: { type: "string" },
      format: { type: "string" },
      benchmark: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.data === undefined || values.completions === undefined) {
      return yield* new ConfigError({
        message: "score: needs --data FILE (the test set) and --completions FILE (JSON Lines)",
        where: "command line",
      });
    }
    const format = values.format ?? "auto";
    if (format !== "auto" && !recordFormats.includes(format as RecordFormat)) {
      return yield* new ConfigError({
        message: `score: --format must be auto or one of ${recordFormats.join(", ")}, got ${
          JSON.stringify(format)
        }`,
        where: "command line",
      });
    }
    const data = yield* readData(values.data, format as RecordFormat | "auto");
    const benchmarkId = values.benchmark ?? defaultBenchmark[data.format];
    const benchmark = benchmarks.find((b) => b.id === benchmarkId) as
      | Benchmark<unknown>
      | undefined;
    if (benchmark === undefined) {
      return yield* new ConfigError({
        message: `score: --benchmark ${JSON.stringify(benchmarkId)} is not a built-in benchmark; ${
          benchmarks.map((b) => b.id).join(", ")
        }`,
        where: "command line",
      });
    }
    const params = Schema.decodeUnknownSync(benchmark.params)({});
    let counter = 0;
    const completionsFile = values.completions;
    const lines = yield* readRecords(
      completionsFile,
      (r) => completionLine(r, ++counter),
      false,
    );
    const physical = physicalLines(completionsFile);
    const at = (ordinal: number) => physical[ordinal - 1] ?? ordinal;
    const byId = new Map<string, number>();
    data.records.forEach((r, i) => {
      if (r.id !== undefined) byId.set(r.id, i);
    });
    const fail = (ordinal: number, message: string) =>
      new DataError({
        message: `Cannot score ${completionsFile} line ${at(ordinal)}: ${message}`,
        file: completionsFile,
        line: at(ordinal),
      });
    const samples = new Map<number, ReadonlyArray<string>>();
    const k = lines.records[0]!.samples.length;
    for (const [position, entry] of lines.records.entries()) {
      let index: number | undefined = entry.index;
      if (index === undefined && entry.id !== undefined) {
        index = byId.get(entry.id);
        if (index === undefined) {
          return yield* fail(
            entry.line,
            `field "id" names no record of ${values.data}, got ${JSON.stringify(entry.id)}`,
          );
        }
      }
      index ??= position;
      if (index >= data.records.length) {
        return yield* fail(
          entry.line,
          `field "index" is past the ${data.records.length} records of ${values.data}, got ${index}`,
        );
      }
      if (samples.has(index)) {
        return yield* fail(entry.line, `record ${index} of ${values.data} already has completions`);
      }
      if (entry.samples.length !== k) {
        return yield* fail(
          entry.line,
          `every item needs the same number of completions (${k}), got ${entry.samples.length}`,
        );
      }
      samples.set(index, entry.samples);
    }
    const missing = data.records.findIndex((_, i) => !samples.has(i));
    if (missing >= 0) {
      return yield* new DataError({
        message:
          `Cannot score ${completionsFile}: record ${missing} of ${values.data} (0-based) has no completion (${samples.size} of ${data.records.length} given)`,
        file: completionsFile,
      });
    }
    const items: ScoredItem[] = data.records.map((r, i) => {
      const converted: Converted = r.converted;
      const example: Example = {
        id: r.id ?? String(i),
        prompt: converted.prompt,
        reference: converted.reference,
        ...(converted.options ? { options: converted.options } : {}),
      };
      return {
        index: i,
        reference: converted.reference,
        scores: samples.get(i)!.map((c) => benchmark.score(example, c, params)),
      };
    });
    const first = avgAtK(items.map((item) => [item.scores[0]!]));
    const average = avgAtK(items.map((item) => item.scores));
    if (values.json) {
      console.log(JSON.stringify(
        {
          data: values.data,
          completions: completionsFile,
          format: data.format,
          benchmark: benchmark.id,
          items: items.length,
          samples: k,
          firstSample: first.value,
          avgAtK: average.value,
          perItem: items,
        },
        null,
        2,
      ));
    } else {
      console.log(
        `${items.length} items x ${k} completion(s), ${data.format} format, scored by ${benchmark.id}`,
      );
      console.log(`first completion accuracy: ${first.value.toFixed(4)}`);
      console.log(`avg@${k}: ${average.value.toFixed(4)}`);
    }
  });
