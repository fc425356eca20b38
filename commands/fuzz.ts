/**
 * `deno task fuzz [--cases N] [--seed S] [--json]`: property-based fuzzing of the parsers that read
 * what users hand to probsft: the safetensors header, the JSONL/JSON record loaders, answer
 * extraction (math and multiple choice) and config decoding (overrides, the experiment Schema and
 * part lookups). Inputs come from a small seeded generator (valid inputs, then mutated), so a run
 * is reproducible from its seed. The property for every case: the parser returns, or fails with
 * its typed one-line error; it never throws anything else and never takes longer than a bound.
 * The test suite runs a few thousand cases per target (tests/reliability/fuzz_test.ts); this
 * command runs more and prints a table.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import { applyOverrides, decodeExperiment, type ExperimentConfig } from "../core/config.ts";
import { isUserError } from "../core/errors.ts";
import { planCells } from "../core/plan.ts";
import { makeRandom } from "../core/random.ts";
import { makeRegistry, type RegistryShape } from "../core/registry.ts";
import { parseSafetensors } from "../backbones/safetensors.ts";
import { convertRecord, type RecordFormat } from "../benchmarks/jsonl/formats.ts";
import { parseRecords } from "../benchmarks/jsonl/read.ts";
import { extractMathAnswer, normalizeMathAnswer } from "../benchmarks/math/answer.ts";
import { matchChoice } from "../benchmarks/medical/match_choice.ts";
import { builtins } from "../plugins/builtins.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";

// ---------------------------------------------------------------------------------------------
// A tiny seeded generator

/** A seeded source of random test inputs. */
export interface Gen {
  /** Uniform in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One of the items. */
  pick<T>(items: ReadonlyArray<T>): T;
  /** A string of up to `max` characters, mostly printable ASCII with some odd ones. */
  text(max: number): string;
  /** A random JSON value of bounded depth. */
  json(depth: number): unknown;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
}

const oddCharacters = ["\u0000", "\n", "\r", "\t", "\\", '"', "é", "→", "\u{1F600}", "\uFFFD"];
const oddNumbers = [0, -0, -1, 1, 0.5, 1e-12, -1e308, 1e308, 2 ** 53, 1.5, 3, 255, -7];

/**
 * A generator of test inputs from a seed (mulberry32 underneath).
 *
 * @param seed The seed.
 * @returns The generator.
 */
export function makeGen(seed: number): Gen {
  const next = makeRandom(seed);
  const gen: Gen = {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    text(max) {
      const length = gen.int(max + 1);
      let out = "";
      for (let i = 0; i < length; i++) {
        out += gen.chance(0.08) ? gen.pick(oddCharacters) : String.fromCharCode(32 + gen.int(95));
      }
      return out;
    },
    json(depth) {
      const kind = gen.int(depth > 0 ? 7 : 5);
      switch (kind) {
        case 0:
          return null;
        case 1:
          return gen.chance(0.5);
        case 2:
          return gen.chance(0.5) ? gen.pick(oddNumbers) : Math.round((next() - 0.3) * 1000);
        case 3:
          return gen.text(12);
        case 4:
          return gen.pick(["", "A", "math", "neg-prob", "transformer", "F32", "1"]);
        case 5:
          return Array.from({ length: gen.int(4) }, () => gen.json(depth - 1));
        default:
          return Object.fromEntries(
            Array.from({ length: gen.int(4) }, () => [gen.text(6), gen.json(depth - 1)]),
          );
      }
    },
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = gen.int(256);
      return out;
    },
  };
  return gen;
}

// ---------------------------------------------------------------------------------------------
// Targets

/** How one case ended. */
export type Outcome = "accepted" | "rejected";

/** A parser under test: builds case `i` from the generator and runs it. */
export interface FuzzTarget {
  /** A short name for the table. */
  readonly name: string;
  /** What its cases contain. */
  readonly inputs: string;
  /** The error a bad input must end with. */
  readonly typedError: string;
  /**
   * Runs one case; resolves to how it ended, or throws/rejects with anything that is not the
   * typed error (a crash).
   */
  run(gen: Gen): Outcome | Promise<Outcome>;
}

function typedOr(error: unknown, tag: string): Outcome {
  if (isUserError(error) && error._tag === tag) {
    if (/[\n\r]/.test(error.message)) throw new Error(`multi-line message: ${error.message}`);
    return "rejected";
  }
  throw error;
}

const dtypeBytes: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, I8: 1, F64: 8 };

function safetensorsBytes(header: unknown, data: Uint8Array, lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function validSafetensors(gen: Gen): { header: Record<string, unknown>; data: Uint8Array } {
  const header: Record<string, unknown> = {};
  if (gen.chance(0.5)) header.__metadata__ = { format: "pt", note: gen.text(8) };
  let offset = 0;
  const count = 1 + gen.int(3);
  for (let t = 0; t < count; t++) {
    const dtype = gen.pick(["F32", "F16", "BF16"]);
    const shape = Array.from({ length: gen.int(3) }, () => 1 + gen.int(4));
    const bytes = shape.reduce((a, b) => a * b, 1) * dtypeBytes[dtype]!;
    header[`t${t}.weight`] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  return { header, data: gen.bytes(offset) };
}

function mutateHeader(gen: Gen, header: Record<string, unknown>): void {
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const name = gen.pick(names.length ? names : ["t0.weight"]);
  const entry = { ...(header[name] as Record<string, unknown> ?? {}) };
  switch (gen.int(8)) {
    case 0:
      entry.dtype = gen.pick(["F8", "Q4", "f32", "", "I64", "U8", "BOOL", "F64", "F8_E4M3"]);
      break;
    case 1:
      entry.shape = gen.pick([[-1], [1.5], [2 ** 40, 2 ** 40], [], ["2"], null, [1e308]]);
      break;
    case 2: {
      const other = header[gen.pick(names.length ? names : [name])] as {
        data_offsets?: number[];
      };
      entry.data_offsets = other?.data_offsets ?? [0, 4]; // overlap with another tensor
      break;
    }
    case 3:
      entry.data_offsets = gen.pick([[5, 1], [0, 2 ** 53], [-4, 0], [0], "0,4", [0.5, 4]]);
      break;
    case 4:
      header[name] = gen.json(2);
      return;
    case 5:
      header.__metadata__ = gen.json(2);
      return;
    case 6:
      delete entry[gen.pick(["dtype", "shape", "data_offsets"])];
      break;
    default:
      header[gen.text(6)] = gen.json(2);
      return;
  }
  header[name] = entry;
}

/** The safetensors header and offsets: random bytes, truncations, flips, bad fields. */
export const safetensorsTarget: FuzzTarget = {
  name: "safetensors file",
  inputs:
    "random bytes; valid files truncated, bit-flipped, with a header length past the end; headers with unknown dtypes, bad shapes, overlapping or outside offsets, junk entries",
  typedError: "CheckpointError",
  run(gen) {
    const { header, data } = validSafetensors(gen);
    let bytes: Uint8Array;
    switch (gen.int(6)) {
      case 0:
        bytes = gen.bytes(gen.int(80));
        break;
      case 1: {
        const whole = safetensorsBytes(header, data);
        bytes = whole.subarray(0, gen.int(whole.length));
        break;
      }
      case 2: {
        bytes = safetensorsBytes(header, data);
        for (let k = 1 + gen.int(8); k > 0; k--) {
          const at = gen.int(bytes.length);
          bytes[at] = bytes[at]! ^ (1 << gen.int(8));
        }
        break;
      }
      case 3: {
        const lengths = [2n ** 63n, 2n ** 64n - 1n, BigInt(gen.int(1 << 20)), 0n, 1n];
        bytes = safetensorsBytes(header, data, gen.pick(lengths));
        break;
      }
      case 4:
        for (let k = 1 + gen.int(3); k > 0; k--) mutateHeader(gen, header);
        bytes = safetensorsBytes(header, data);
        break;
      default:
        bytes = safetensorsBytes(header, data);
    }
    const only = gen.chance(0.2) ? new Set(["t0.weight"]) : undefined;
    try {
      const parsed = parseSafetensors(bytes, "fuzz.safetensors", only);
      for (const t of parsed.tensors.values()) {
        const count = t.shape.reduce((a, b) => a * b, 1);
        if (t.data.length !== count) throw new Error(`tensor of ${t.data.length} values`);
      }
      return "accepted";
    } catch (error) {
      return typedOr(error, "CheckpointError");
    }
  },
};

function validRecord(gen: Gen, format: RecordFormat): Record<string, unknown> {
  switch (format) {
    case "math": {
      const answer = String(gen.int(100));
      return {
        problem: `What is ${gen.text(10)}?`,
        ...(gen.chance(0.8) ? { solution: `So it is \\boxed{${answer}}.` } : {}),
        ...(gen.chance(0.7) ? { answer } : {}),
      };
    }
    case "choice": {
      const options = Array.from({ length: 2 + gen.int(4) }, () => gen.text(8));
      const answer = gen.pick<unknown>([
        gen.int(options.length + 2),
        gen.pick(["A", "B", "(C)", "d.", "Z", ""]),
        gen.pick(options),
        gen.text(5),
      ]);
      return {
        question: gen.text(20),
        options: gen.chance(0.5)
          ? options
          : Object.fromEntries(options.map((o, i) => [String.fromCharCode(65 + i), o])),
        [gen.pick(["answer_idx", "answer", "label"])]: answer,
      };
    }
    case "pairs":
      return gen.chance(0.5)
        ? { prompt: gen.text(20), response: gen.text(20) }
        : { instruction: gen.text(20), input: gen.text(5), output: gen.text(20) };
  }
}

function recordLine(gen: Gen, format: RecordFormat): string {
  const record = validRecord(gen, format);
  switch (gen.int(8)) {
    case 0:
      return JSON.stringify(gen.json(3));
    case 1: {
      const line = JSON.stringify(record);
      return line.slice(0, gen.int(line.length));
    }
    case 2:
      return gen.text(30);
    case 3:
      record[gen.pick(Object.keys(record).length ? Object.keys(record) : ["x"])] = gen.json(2);
      return JSON.stringify(record);
    case 4:
      return "";
    default:
      return JSON.stringify(record);
  }
}

/** The JSONL/JSON record loaders of the `jsonl` domain, all three formats. */
export const jsonlTarget: FuzzTarget = {
  name: "JSONL/JSON data file",
  inputs:
    "math/choice/pairs files of valid, truncated, non-JSON, non-object and mutated records (answers not among the options, wrong types), blank lines, empty files, JSON arrays",
  typedError: "DataError",
  run(gen) {
    const format = gen.pick<RecordFormat>(["math", "choice", "pairs"]);
    const lines = Array.from({ length: gen.int(6) }, () => recordLine(gen, format));
    const asArray = gen.chance(0.2);
    const file = asArray ? "fuzz.json" : "fuzz.jsonl";
    const text = asArray
      ? (gen.chance(0.8) ? `[${lines.filter((l) => l !== "").join(",")}]` : gen.text(20))
      : lines.join(gen.chance(0.9) ? "\n" : "\r\n");
    const training = gen.chance(0.5);
    const result = parseRecords(
      file,
      text,
      (r) => convertRecord(format, r, training),
      gen.chance(0.5),
    );
    if (isUserError(result)) return typedOr(result, "DataError");
    if (result.records.length === 0) throw new Error("accepted a file with no records");
    for (const r of result.records) {
      if (typeof r.prompt !== "string" || typeof r.reference !== "string") {
        throw new Error(`record without prompt or reference: ${JSON.stringify(r)}`);
      }
      if (r.options && format === "choice" && !/^[A-N]$/.test(r.reference)) {
        throw new Error(`choice reference ${r.reference} is not an option letter`);
      }
    }
    return "accepted";
  },
};

const answerPieces = [
  "\\boxed{",
  "\\boxed ",
  "}",
  "{",
  "$",
  "The answer is ",
  "final answer is $",
  "$. I hope",
  "\\frac",
  "\\dfrac",
  "\\sqrt",
  "\\text{cm}",
  "\\left(",
  "\\right)",
  "x=",
  "1",
  "2.50",
  "-",
  ",",
  ".",
  " ",
  "\n",
  "A",
  "(B)",
  "**C**",
  "answer is ",
  "## Final Response",
  "%",
  "^\\circ",
  "/",
  "infinity",
];

/** Math answer extraction and normalisation, and multiple-choice matching. */
export const answerTarget: FuzzTarget = {
  name: "answer extraction",
  inputs:
    "completions assembled from boxed/answer-is/LaTeX/letter fragments and random text, up to a few thousand characters, with random option lists",
  typedError: "(none: always returns)",
  run(gen) {
    const parts = Array.from(
      { length: gen.int(gen.chance(0.05) ? 400 : 40) },
      () => gen.chance(0.7) ? gen.pick(answerPieces) : gen.text(6),
    );
    const text = parts.join("");
    const math = extractMathAnswer(text);
    if (math !== null && typeof math !== "string") throw new Error("not a string");
    normalizeMathAnswer(text.slice(0, 200));
    const options = Array.from({ length: 2 + gen.int(4) }, () => gen.text(10));
    const letter = matchChoice(text.slice(0, 600), options);
    if (letter !== null && !/^[A-N]$/.test(letter)) throw new Error(`letter ${letter}`);
    return "accepted";
  },
};

const basePreset: ExperimentConfig = {
  name: "fuzz",
  seeds: [0],
  objectives: [{ id: "neg-log-prob" }, { id: "general-family", params: { alpha: 1 } }],
  train: { batchSize: 8, checkpointEvery: 3, steps: 4 },
  evaluation: { batchSize: 16, maxItems: 8 },
  domains: [{
    id: "math",
    params: { sftExamples: 32, testItems: 8, samples: 2, corpusDocuments: 16 },
    backbones: [{ id: "transformer", params: { dModel: 16, nLayers: 1, nHeads: 2, dMlp: 32 } }],
  }],
};

const configPaths = [
  "name",
  "seeds",
  "seeds.0",
  "objectives",
  "objectives.0",
  "objectives.0.id",
  "objectives.1.params",
  "objectives.1.params.alpha",
  "train",
  "train.steps",
  "train.batchSize",
  "train.learningRate",
  "train.warmupRatio",
  "train.maxSkippedShare",
  "evaluation.maxItems",
  "domains",
  "domains.0.id",
  "domains.0.params",
  "domains.0.params.sftExamples",
  "domains.0.backbones.0.id",
  "domains.0.backbones.0.params.dModel",
  "domains.0.backbones.0.params.nHeads",
  "baseline",
  "bogus",
  "train.bogus",
];

let fuzzRegistry: RegistryShape | undefined;

/** Config decoding: `path=value` overrides, the experiment Schema, then part ids and params. */
export const configTarget: FuzzTarget = {
  name: "config decoding",
  inputs:
    "the tiny preset with random path=value overrides (wrong types, out-of-range numbers, unknown keys and ids, bad paths) and whole random JSON values",
  typedError: "ConfigError / UnknownId",
  async run(gen) {
    fuzzRegistry ??= Effect.runSync(makeRegistry([builtins]));
    const registry = fuzzRegistry;
    const overrides = Array.from({ length: 1 + gen.int(3) }, () => {
      if (gen.chance(0.1)) return gen.text(12);
      const value = gen.chance(0.3) ? gen.text(6) : JSON.stringify(gen.json(2));
      return `${gen.pick(configPaths)}=${value}`;
    });
    const raw = gen.chance(0.1) ? gen.json(3) : basePreset;
    const program = Effect.gen(function* () {
      const overridden = yield* applyOverrides(raw, overrides);
      const config = yield* decodeExperiment(overridden, "fuzz.json");
      yield* planCells(config, "fuzz.json", registry);
    });
    const exit = await Effect.runPromiseExit(program);
    if (Exit.isSuccess(exit)) return "accepted";
    const error = Cause.squash(exit.cause);
    return typedOr(
      error,
      isUserError(error) && error._tag === "UnknownId" ? "UnknownId" : "ConfigError",
    );
  },
};

/** Every fuzz target, in table order. */
export const fuzzTargets: ReadonlyArray<FuzzTarget> = [
  safetensorsTarget,
  jsonlTarget,
  answerTarget,
  configTarget,
];

/** A crash found by the fuzzer. */
export interface FuzzCrash {
  /** The case index (rerun it with the same seed). */
  readonly index: number;
  /** What was thrown. */
  readonly error: string;
}

/** What fuzzing one target found. */
export interface FuzzReport {
  /** The target's name. */
  readonly name: string;
  /** Cases run. */
  readonly cases: number;
  /** Inputs parsed. */
  readonly accepted: number;
  /** Inputs refused with the typed error. */
  readonly rejected: number;
  /** Anything else thrown, or a case slower than the bound. */
  readonly crashes: ReadonlyArray<FuzzCrash>;
  /** The slowest case in milliseconds. */
  readonly slowestMs: number;
  /** Growth of the resident set over the target, in MiB (GC permitting). */
  readonly rssGrowthMiB: number;
}

/**
 * Fuzzes one target: case `i` is built from the generator seeded with `(seed, i)`, so any case can
 * be replayed alone.
 *
 * @param target The parser.
 * @param cases How many cases.
 * @param seed The seed.
 * @param hangMs A case slower than this counts as a crash (a hang).
 * @returns The counts.
 */
export async function fuzz(
  target: FuzzTarget,
  cases: number,
  seed: number,
  hangMs = 2000,
): Promise<FuzzReport> {
  let accepted = 0;
  let rejected = 0;
  let slowestMs = 0;
  const crashes: FuzzCrash[] = [];
  const rss0 = Deno.memoryUsage().rss;
  for (let index = 0; index < cases; index++) {
    const gen = makeGen(((seed * 1_000_003) ^ (index * 2_654_435_761)) >>> 0);
    const started = performance.now();
    try {
      const outcome = await target.run(gen);
      if (outcome === "accepted") accepted += 1;
      else rejected += 1;
    } catch (error) {
      crashes.push({ index, error: String((error as Error)?.stack ?? error).slice(0, 400) });
    }
    const ms = performance.now() - started;
    slowestMs = Math.max(slowestMs, ms);
    if (ms > hangMs) crashes.push({ index, error: `took ${ms.toFixed(0)} ms` });
  }
  const rssGrowthMiB = (Deno.memoryUsage().rss - rss0) / 2 ** 20;
  return { name: target.name, cases, accepted, rejected, crashes, slowestMs, rssGrowthMiB };
}

/**
 * The markdown table of fuzz reports.
 *
 * @param reports One per target.
 * @returns The table.
 */
export function fuzzTable(reports: ReadonlyArray<FuzzReport>): string {
  const rows = reports.map((r) =>
    `| ${r.name} | ${r.cases} | ${r.accepted} | ${r.rejected} | ${r.crashes.length} | ${
      r.slowestMs.toFixed(1)
    } |`
  );
  return [
    "| parser | cases | parsed | refused with the typed error | crashes or hangs | slowest case (ms) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n");
}

/** The fuzz command. */
export const fuzzCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("fuzz", args, {
      cases: { type: "string" },
      seed: { type: "string" },
      json: { type: "boolean" },
    });
    const cases = yield* numberFlag("fuzz", "cases", values.cases, 20_000);
    const seed = yield* numberFlag("fuzz", "seed", values.seed, 1);
    const reports: FuzzReport[] = [];
    for (const target of fuzzTargets) {
      const report = yield* Effect.promise(() => fuzz(target, cases, seed));
      reports.push(report);
      if (!values.json) {
        console.error(
          `fuzz ${target.name}: ${report.cases} cases, ${report.crashes.length} crashes`,
        );
      }
    }
    if (values.json) console.log(JSON.stringify(reports, null, 2));
    else console.log(fuzzTable(reports));
    const crashes = reports.flatMap((r) => r.crashes.map((c) => `${r.name} #${c.index}`));
    if (crashes.length > 0) {
      const first = reports.flatMap((r) => r.crashes)[0]!;
      return yield* Effect.die(
        new Error(
          `fuzz found ${crashes.length} crash(es) with --seed ${seed}: ${
            crashes.slice(0, 5).join(", ")
          }\n${first.error}`,
        ),
      );
    }
  });
