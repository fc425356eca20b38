/**
 * `deno task fuzz [--cases N] [--seed S] [--json]`: property-based fuzzing, with fast-check, of the
 * parsers that read what users hand to probsft: the safetensors header, the JSONL/JSON record
 * loaders, answer extraction (math and multiple choice) and config decoding (overrides, the
 * experiment Schema and part lookups). Each target is a fast-check arbitrary of inputs (valid
 * inputs and mutations of them) and a property run with a seed and a case count, so a run is
 * reproducible from its seed and a failing input is shrunk to a small one. The property for every
 * case: the parser returns, or fails with its typed one-line error; it never throws anything else
 * and never takes longer than a bound. For safetensors it also holds that a valid file is read
 * back with the values written, and a file mutated to break a rule of the format is refused. The
 * test suite runs a few thousand cases per target (tests/reliability/fuzz_test.ts); this command
 * runs more and prints a table.
 *
 * @module
 */
import fc from "fast-check";
import { Cause, Effect, Exit } from "effect";
import { applyOverrides, decodeExperiment, type ExperimentConfig } from "../core/config.ts";
import { isUserError } from "../core/errors.ts";
import { planCells } from "../core/plan.ts";
import { makeRegistry, type RegistryShape } from "../core/registry.ts";
import { parseSafetensors } from "../backbones/safetensors.ts";
import { convertRecord, type RecordFormat } from "../benchmarks/jsonl/formats.ts";
import { parseRecords } from "../benchmarks/jsonl/read.ts";
import { extractMathAnswer, normalizeMathAnswer } from "../benchmarks/math/answer.ts";
import { matchChoice } from "../benchmarks/medical/match_choice.ts";
import { builtins } from "../plugins/builtins.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";

// ---------------------------------------------------------------------------------------------
// Shared arbitraries

const oddCharacters = ["\u0000", "\n", "\r", "\t", "\\", '"', "é", "→", "\u{1F600}", "\uFFFD"];
const oddNumbers = [0, -0, -1, 1, 0.5, 1e-12, -1e308, 1e308, 2 ** 53, 1.5, 3, 255, -7];

/** True with probability `p` (shrinks to true). */
function chance(p: number): fc.Arbitrary<boolean> {
  const weight = Math.round(p * 100);
  return fc.oneof(
    { weight, arbitrary: fc.constant(true) },
    { weight: 100 - weight, arbitrary: fc.constant(false) },
  );
}

const character: fc.Arbitrary<string> = fc.oneof(
  { weight: 23, arbitrary: fc.integer({ min: 32, max: 126 }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom(...oddCharacters) },
);

/**
 * Strings of up to `max` characters, mostly printable ASCII with some odd ones.
 *
 * @param max The longest.
 * @returns The arbitrary.
 */
export function textArbitrary(max: number): fc.Arbitrary<string> {
  return fc.string({ unit: character, maxLength: max });
}

/**
 * JSON values (null, booleans, odd numbers, strings, arrays, objects) nested at most `depth` deep.
 *
 * @param depth The deepest nesting of arrays and objects.
 * @returns The arbitrary.
 */
export function jsonArbitrary(depth: number): fc.Arbitrary<unknown> {
  const leaves: fc.Arbitrary<unknown>[] = [
    fc.constant(null),
    fc.boolean(),
    fc.oneof(fc.constantFrom(...oddNumbers), fc.integer({ min: -300, max: 700 })),
    textArbitrary(12),
    fc.constantFrom("", "A", "math", "neg-prob", "transformer", "F32", "1"),
  ];
  if (depth <= 0) return fc.oneof(...leaves);
  const inner = jsonArbitrary(depth - 1);
  return fc.oneof(
    ...leaves,
    fc.array(inner, { maxLength: 3 }),
    fc.dictionary(textArbitrary(6), inner, { maxKeys: 3, noNullPrototype: true }),
  );
}

// ---------------------------------------------------------------------------------------------
// Targets

/** How one case ended. */
export type Outcome = "accepted" | "rejected";

/** A parser under test: an arbitrary of its inputs and a run of one input. */
export interface FuzzTarget<T = unknown> {
  /** A short name for the table. */
  readonly name: string;
  /** What its cases contain. */
  readonly inputs: string;
  /** The error a bad input must end with. */
  readonly typedError: string;
  /** The inputs. */
  readonly arbitrary: fc.Arbitrary<T>;
  /**
   * Runs one case; resolves to how it ended, or throws/rejects with anything that is not the
   * typed error (a crash).
   */
  run(input: T): Outcome | Promise<Outcome>;
}

function typedOr(error: unknown, tag: string): Outcome {
  if (isUserError(error) && error._tag === tag) {
    if (/[\n\r]/.test(error.message)) throw new Error(`multi-line message: ${error.message}`);
    return "rejected";
  }
  throw error;
}

// ---------------------------------------------------------------------------------------------
// Safetensors files

/** The dtypes probsft reads, with their bytes per element. */
const floatBytes = { F32: 4, F16: 2, BF16: 2 } as const;

/** One tensor of a generated safetensors file. */
export interface TensorSpec {
  /** The name (never `__metadata__`). */
  readonly name: string;
  /** A dtype probsft reads. */
  readonly dtype: keyof typeof floatBytes;
  /** The shape (small dimensions, zero included). */
  readonly shape: ReadonlyArray<number>;
  /** The raw little-endian bytes, exactly as many as dtype and shape take. */
  readonly bytes: Uint8Array;
}

/** A valid safetensors file as generated: its tensors in data order, and its header order. */
export interface SafetensorsSpec {
  /** The tensors in the order of their data. */
  readonly tensors: ReadonlyArray<TensorSpec>;
  /** The order of the tensors in the header (a permutation of indices into `tensors`). */
  readonly headerOrder: ReadonlyArray<number>;
  /** The `__metadata__` pairs, or none. */
  readonly metadata?: ReadonlyArray<readonly [string, string]>;
}

const nameUnit = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789._-".split(""));
const nameArbitrary: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: nameUnit, minLength: 1, maxLength: 14 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "__proto__", "0", "a b", 'q"\\', "\u00e9\u{1F600}") },
).filter((name) => name !== "__metadata__");

const tensorArbitrary: fc.Arbitrary<TensorSpec> = fc.record({
  name: nameArbitrary,
  dtype: fc.constantFrom<keyof typeof floatBytes>("F32", "F16", "BF16"),
  shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
}).chain((t) => {
  const length = t.shape.reduce((a, b) => a * b, 1) * floatBytes[t.dtype];
  return fc.uint8Array({ minLength: length, maxLength: length }).map((bytes) => ({
    ...t,
    bytes,
  }));
});

/** Valid safetensors files: up to 5 F32/F16/BF16 tensors, any header order, maybe metadata. */
export const safetensorsSpecArbitrary: fc.Arbitrary<SafetensorsSpec> = fc.record({
  tensors: fc.uniqueArray(tensorArbitrary, { selector: (t) => t.name, maxLength: 5 }),
  metadata: fc.option(
    fc.uniqueArray(fc.tuple(nameArbitrary, fc.string({ unit: "binary", maxLength: 8 })), {
      selector: ([key]) => key,
      maxLength: 3,
    }),
    { nil: undefined },
  ),
}).chain(({ tensors, metadata }) =>
  fc.shuffledSubarray(tensors.map((_, i) => i), {
    minLength: tensors.length,
    maxLength: tensors.length,
  }).map((headerOrder) => ({ tensors, headerOrder, metadata }))
);

/** A header member as raw JSON text: the key and the value. */
type Member = [key: string, value: string];

/** A file in the making: header members as raw text, padding, the data and the length field. */
interface Layout {
  members: Member[];
  data: Uint8Array;
  lead: string;
  pad?: string;
  lengthDelta: number;
}

function tensorJson(dtype: string, shape: string, begin: number, end: number): string {
  return `{"dtype":"${dtype}","shape":${shape},"data_offsets":[${begin},${end}]}`;
}

function layoutOf(spec: SafetensorsSpec): Layout {
  const offsets: number[] = [];
  let offset = 0;
  for (const t of spec.tensors) {
    offsets.push(offset);
    offset += t.bytes.length;
  }
  const members: Member[] = [];
  if (spec.metadata) {
    const pairs = spec.metadata.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    members.push(['"__metadata__"', `{${pairs.join(",")}}`]);
  }
  for (const i of spec.headerOrder) {
    const t = spec.tensors[i]!;
    members.push([
      JSON.stringify(t.name),
      tensorJson(t.dtype, JSON.stringify(t.shape), offsets[i]!, offsets[i]! + t.bytes.length),
    ]);
  }
  const data = new Uint8Array(offset);
  spec.tensors.forEach((t, i) => data.set(t.bytes, offsets[i]!));
  return { members, data, lead: "", lengthDelta: 0 };
}

/**
 * The bytes of a safetensors file from its raw header members and data; the header is padded with
 * spaces to a multiple of 8 bytes unless `pad` is given.
 */
function bytesOf(layout: Layout): Uint8Array {
  const body = `${layout.lead}{${layout.members.map(([k, v]) => `${k}:${v}`).join(",")}}`;
  let header = new TextEncoder().encode(body);
  const pad = layout.pad ?? " ".repeat((8 - (header.length % 8)) % 8);
  header = new TextEncoder().encode(body + pad);
  const out = new Uint8Array(8 + header.length + layout.data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length + layout.lengthDelta), true);
  out.set(header, 8);
  out.set(layout.data, 8 + header.length);
  return out;
}

/**
 * The bytes of a valid safetensors file.
 *
 * @param spec The file.
 * @returns Its bytes, header members in `spec.headerOrder`, padded with spaces to 8 bytes.
 */
export function encodeSafetensors(spec: SafetensorsSpec): Uint8Array {
  return bytesOf(layoutOf(spec));
}

/** A key spelled with its first character as a `\u` escape: the same name, other bytes. */
function escapedKey(name: string): string {
  if (name.length === 0) return '""';
  const code = name.charCodeAt(0).toString(16).padStart(4, "0");
  return `"\\u${code}${JSON.stringify(name.slice(1)).slice(1)}`;
}

/** A mutation of a valid file that breaks one rule of the format, with that rule's name. */
interface Breakage {
  /** The rule broken. */
  readonly rule: string;
  /** Applies the mutation (in place) to the layout of `spec`; returns the bytes. */
  apply(layout: Layout, spec: SafetensorsSpec): Uint8Array;
}

const nonStrings = ["1", "2.5", "null", "true", "{}", '{"a":"b"}', '["x"]', "-3"];
const badDtypes = ["F8", "Q4", "f32", "", "FP32", "float32", "F 32", "BF 16"];
const badShapes = ["[-1]", "[1.5]", '["2"]', "null", "[1e3]", "[1,]", "{}", "[2.0]", "[-0]"];
const badOffsets = ["[5,1]", "[0]", '"0,4"', "[-4,0]", "[0.5,4]", "[0,4,8]", "null", "[1e1,2e1]"];

/** Every rule a mutation can break; each mutation is total (applies to any valid file). */
function breakageArbitrary(): fc.Arbitrary<Breakage> {
  const k = fc.integer({ min: 1, max: 16 });
  const pick = fc.nat();
  // A member index: the header always gets at least one tensor added where it has none.
  const ensureTensor = (layout: Layout): number => {
    const i = layout.members.findIndex(([key]) => key !== '"__metadata__"');
    if (i >= 0) return i;
    layout.members.push([
      '"t"',
      tensorJson("F32", "[1]", layout.data.length, layout.data.length + 4),
    ]);
    layout.data = new Uint8Array([...layout.data, 0, 0, 128, 63]);
    return layout.members.length - 1;
  };
  const tensorAt = (layout: Layout, n: number): number => {
    ensureTensor(layout);
    const indices = layout.members.flatMap(([key], i) => key === '"__metadata__"' ? [] : [i]);
    return indices[n % indices.length]!;
  };
  const setMember = (layout: Layout, i: number, edit: (entry: Record<string, string>) => void) => {
    const parsed = JSON.parse(layout.members[i]![1]) as Record<string, unknown>;
    const entry: Record<string, string> = Object.fromEntries(
      Object.entries(parsed).map(([key, v]) => [key, JSON.stringify(v)]),
    );
    edit(entry);
    layout.members[i]![1] = `{${
      Object.entries(entry).map(([key, v]) => `${JSON.stringify(key)}:${v}`).join(",")
    }}`;
  };
  const breakages: fc.Arbitrary<Breakage>[] = [
    k.map((n) => ({
      rule: "truncated file",
      apply: (layout) => {
        const bytes = bytesOf(layout);
        return bytes.subarray(0, Math.max(0, bytes.length - n));
      },
    })),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((extra) => ({
      rule: "trailing bytes no tensor covers",
      apply: (layout) => {
        layout.data = new Uint8Array([...layout.data, ...extra]);
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, pick, fc.boolean()).map(([n, at, escape]) => ({
      rule: "the same tensor name twice",
      apply: (layout) => {
        const i = tensorAt(layout, n);
        const [key, value] = layout.members[i]!;
        const copy: Member = [escape ? escapedKey(JSON.parse(key)) : key, value];
        layout.members.splice(at % (layout.members.length + 1), 0, copy);
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, k).map(([n, gap]) => ({
      rule: "a gap between tensors",
      apply: (layout, spec) => {
        // Insert `gap` bytes before the n-th tensor in data order and shift the later offsets.
        if (spec.tensors.length === 0) ensureTensor(layout);
        const entries = layout.members.flatMap(([key, value], i) => {
          if (key === '"__metadata__"') return [];
          const offsets = (JSON.parse(value) as { data_offsets: [number, number] }).data_offsets;
          return [{ i, begin: offsets[0], end: offsets[1] }];
        }).sort((a, b) => a.begin - b.begin || a.end - b.end);
        const cut = entries[n % entries.length]!.begin;
        for (const e of entries) {
          if (
            e.begin < cut || (e.begin === cut && e.end === cut && e !== entries[n % entries.length])
          ) {
            continue;
          }
          setMember(layout, e.i, (entry) => {
            entry.data_offsets = `[${e.begin + gap},${e.end + gap}]`;
          });
        }
        const data = new Uint8Array(layout.data.length + gap);
        data.set(layout.data.subarray(0, cut));
        data.set(layout.data.subarray(cut), cut + gap);
        layout.data = data;
        return bytesOf(layout);
      },
    })),
    fc.tuple(fc.constantFrom(...nonStrings), textArbitrary(6), fc.boolean()).map((
      [value, key, whole],
    ) => ({
      rule: "__metadata__ holding a non-string",
      apply: (layout) => {
        const at = layout.members.findIndex(([name]) => name === '"__metadata__"');
        const pairs = at >= 0 ? layout.members[at]![1].slice(1, -1) : "";
        // Either the whole of __metadata__ is not an object, or one of its values not a string.
        const member: Member = whole
          ? ['"__metadata__"', value.startsWith("{") ? '"pt"' : value]
          : ['"__metadata__"', `{${pairs}${pairs ? "," : ""}${JSON.stringify(key)}:${value}}`];
        if (at >= 0) layout.members[at] = member;
        else layout.members.unshift(member);
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, fc.constantFrom("extra", "offsets", "DTYPE", "__metadata__")).map((
      [n, key],
    ) => ({
      rule: "an unknown key in a tensor entry",
      apply: (layout) => {
        setMember(layout, tensorAt(layout, n), (entry) => {
          entry[key] = '"x"';
        });
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, fc.constantFrom("dtype", "shape", "data_offsets")).map(([n, key]) => ({
      rule: "a tensor entry without one of its three keys",
      apply: (layout) => {
        setMember(layout, tensorAt(layout, n), (entry) => {
          delete entry[key];
        });
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, fc.constantFrom(...badDtypes)).map(([n, dtype]) => ({
      rule: "an unknown dtype",
      apply: (layout) => {
        setMember(layout, tensorAt(layout, n), (entry) => {
          entry.dtype = JSON.stringify(dtype);
        });
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, fc.constantFrom(...badShapes)).map(([n, shape]) => ({
      rule: "a shape that is not a list of non-negative integers",
      apply: (layout) => {
        setMember(layout, tensorAt(layout, n), (entry) => {
          entry.shape = shape;
        });
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, fc.integer({ min: 2, max: 5 })).map(([n, factor]) => ({
      rule: "a byte size other than shape × dtype size",
      apply: (layout) => {
        const i = tensorAt(layout, n);
        const entry = JSON.parse(layout.members[i]![1]) as { shape: number[] };
        const count = entry.shape.reduce((a, b) => a * b, 1);
        setMember(layout, i, (e) => {
          e.shape = count === 0 ? "[-1]" : JSON.stringify([...entry.shape, factor]);
        });
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, fc.constantFrom(...badOffsets)).map(([n, offsets]) => ({
      rule: "data_offsets that are not [begin, end] with begin <= end",
      apply: (layout) => {
        setMember(layout, tensorAt(layout, n), (entry) => {
          entry.data_offsets = offsets;
        });
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, pick).map(([n, m]) => ({
      rule: "overlapping tensors",
      apply: (layout) => {
        // Give a tensor with data the offsets of another tensor, or one of its own shifted by 1.
        const i = tensorAt(layout, n);
        const withData = layout.members.flatMap(([key, value], j) => {
          if (key === '"__metadata__"') return [];
          const [b, e] = (JSON.parse(value) as { data_offsets: [number, number] }).data_offsets;
          return e > b ? [{ j, b, e }] : [];
        });
        if (withData.length === 0) {
          setMember(layout, i, (entry) => {
            entry.dtype = '"F32"';
            entry.shape = "[1]";
            entry.data_offsets = "[0,4]";
          });
          layout.data = new Uint8Array([...layout.data, 0, 0, 0, 0]);
          layout.members.push(['"z"', tensorJson("F32", "[1]", 0, 4)]);
          return bytesOf(layout);
        }
        const target = withData[m % withData.length]!;
        const other = withData.find((w) => w.j !== target.j);
        if (other) {
          setMember(layout, other.j, (entry) => {
            const source = JSON.parse(layout.members[target.j]![1]) as Record<string, unknown>;
            entry.dtype = JSON.stringify(source.dtype);
            entry.shape = JSON.stringify(source.shape);
            entry.data_offsets = `[${target.b},${target.e}]`;
          });
        } else {
          layout.members.push(['"__overlap"', tensorJson("U8", "[1]", target.b, target.b + 1)]);
        }
        return bytesOf(layout);
      },
    })),
    fc.constantFrom(" ", "\n", "\t", "\uFEFF").map((lead) => ({
      rule: "a header that does not begin with {",
      apply: (layout) => {
        layout.lead = lead;
        return bytesOf(layout);
      },
    })),
    fc.tuple(fc.constantFrom("\n", "\t", "\r", "\u0000", "x"), fc.integer({ min: 0, max: 7 })).map((
      [bad, spaces],
    ) => ({
      rule: "header padding other than spaces",
      apply: (layout) => {
        layout.pad = " ".repeat(spaces) + bad;
        return bytesOf(layout);
      },
    })),
    fc.tuple(pick, fc.constantFrom("dtype", "shape", "data_offsets")).map(([n, key]) => ({
      rule: "a key twice inside a tensor entry",
      apply: (layout) => {
        const i = tensorAt(layout, n);
        const value = layout.members[i]![1];
        const inner = JSON.stringify((JSON.parse(value) as Record<string, unknown>)[key]);
        layout.members[i]![1] = `${value.slice(0, -1)},"${key}":${inner}}`;
        return bytesOf(layout);
      },
    })),
    fc.tuple(fc.integer({ min: 1, max: 40 }), fc.boolean()).map(([delta, longer]) => ({
      rule: "a header length that is not the header's",
      apply: (layout) => {
        layout.lengthDelta = longer ? delta : -delta;
        return bytesOf(layout);
      },
    })),
    fc.constantFrom(
      new Uint8Array([0xff]),
      new Uint8Array([0xc3]),
      new Uint8Array([0xed, 0xa0, 0x80]),
    ).map((bad) => ({
      rule: "a header that is not UTF-8",
      apply: (layout) => {
        const bytes = bytesOf(layout);
        const view = new DataView(bytes.buffer);
        const length = Number(view.getBigUint64(0, true));
        const out = new Uint8Array(bytes.length + bad.length);
        out.set(bytes.subarray(0, 9));
        out.set(bad, 9); // inside the header, after its "{"
        out.set(bytes.subarray(9), 9 + bad.length);
        new DataView(out.buffer).setBigUint64(0, BigInt(length + bad.length), true);
        return out;
      },
    })),
  ];
  return fc.oneof(...breakages);
}

/** One safetensors case: the bytes, what a reader must say, and what a valid file holds. */
export interface SafetensorsCase {
  /** How it was made. */
  readonly kind: "valid" | "broken" | "bit-flipped" | "random bytes";
  /** The file content. */
  readonly bytes: Uint8Array;
  /** For a broken file, the rule it breaks (a reader must refuse it). */
  readonly rule?: string;
  /** For a valid file, its content (a reader must accept it and return these values). */
  readonly spec?: SafetensorsSpec;
  /** Read only these tensors. */
  readonly only?: ReadonlyArray<string>;
}

/** Valid files, files broken in one rule, bit-flipped files and random bytes. */
export const safetensorsCaseArbitrary: fc.Arbitrary<SafetensorsCase> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.tuple(safetensorsSpecArbitrary, fc.option(fc.nat(), { nil: undefined })).map((
      [spec, pickOne],
    ) => ({
      kind: "valid" as const,
      bytes: encodeSafetensors(spec),
      spec,
      only: pickOne === undefined || spec.tensors.length === 0
        ? undefined
        : [spec.tensors[pickOne % spec.tensors.length]!.name, "absent"],
    })),
  },
  {
    weight: 6,
    arbitrary: fc.tuple(safetensorsSpecArbitrary, breakageArbitrary()).map(([spec, breakage]) => ({
      kind: "broken" as const,
      bytes: breakage.apply(layoutOf(spec), spec),
      rule: breakage.rule,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      safetensorsSpecArbitrary,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }),
    ).map(([spec, flips]) => {
      const bytes = encodeSafetensors(spec);
      for (const [at, bit] of flips) bytes[at % bytes.length]! ^= 1 << bit;
      return { kind: "bit-flipped" as const, bytes };
    }),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 80 }).map((bytes) => ({
      kind: "random bytes" as const,
      bytes,
    })),
  },
);

/**
 * The float32 values a reader must return for a generated tensor: F32 bit for bit, BF16 as the
 * upper half of a float32, F16 through the platform's own `DataView.getFloat16`.
 *
 * @param t The tensor.
 * @returns The values.
 */
export function expectedValues(t: TensorSpec): Float32Array {
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  if (t.dtype === "F32") return new Float32Array(t.bytes.slice().buffer);
  const out = new Float32Array(t.bytes.length / 2);
  const getFloat16 = (view as unknown as { getFloat16(at: number, le: boolean): number })
    .getFloat16;
  for (let i = 0; i < out.length; i++) {
    if (t.dtype === "BF16") {
      new Uint32Array(out.buffer)[i] = view.getUint16(2 * i, true) << 16;
    } else out[i] = getFloat16.call(view, 2 * i, true);
  }
  return out;
}

/**
 * Whether two float32 arrays hold the same values: bit for bit, except that any NaN equals any NaN
 * (F16 NaN payloads need not survive widening).
 *
 * @param a One.
 * @param b The other.
 * @returns True when equal.
 */
export function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (x[i] !== y[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  }
  return true;
}

/** The safetensors header, offsets and byte buffer: valid, broken, bit-flipped, random. */
export const safetensorsTarget: FuzzTarget<SafetensorsCase> = {
  name: "safetensors file",
  inputs:
    "valid F32/F16/BF16 files (any names, header order and metadata); files broken in one rule (truncated, trailing bytes, a name twice, gaps, overlaps, non-string metadata, unknown keys and dtypes, bad shapes and offsets, bad start or padding, a wrong header length, non-UTF-8); bit flips; random bytes",
  typedError: "CheckpointError",
  arbitrary: safetensorsCaseArbitrary,
  run(input) {
    let parsed;
    try {
      parsed = parseSafetensors(
        input.bytes,
        "fuzz.safetensors",
        input.only ? new Set(input.only) : undefined,
      );
    } catch (error) {
      const outcome = typedOr(error, "CheckpointError");
      if (input.kind === "valid") {
        throw new Error(`refused a valid file: ${(error as Error).message}`);
      }
      return outcome;
    }
    if (input.rule !== undefined) throw new Error(`accepted a file with ${input.rule}`);
    for (const t of parsed.tensors.values()) {
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== count) throw new Error(`tensor of ${t.data.length} values`);
    }
    if (input.spec) {
      const wanted = input.spec.tensors.filter((t) => !input.only || input.only.includes(t.name));
      if (parsed.tensors.size !== wanted.length) {
        throw new Error(`read ${parsed.tensors.size} tensors, wrote ${wanted.length}`);
      }
      for (const t of wanted) {
        const read = parsed.tensors.get(t.name);
        if (
          !read || read.dtype !== t.dtype ||
          JSON.stringify(read.shape) !== JSON.stringify(t.shape) ||
          !sameValues(read.data, expectedValues(t))
        ) throw new Error(`tensor ${JSON.stringify(t.name)} read back differently`);
      }
      const metadata = Object.fromEntries(input.spec.metadata ?? []);
      if (JSON.stringify(parsed.metadata) !== JSON.stringify(metadata)) {
        throw new Error(`metadata read back as ${JSON.stringify(parsed.metadata)}`);
      }
    }
    return "accepted";
  },
};

// ---------------------------------------------------------------------------------------------
// JSONL/JSON data files

/** The record formats fuzzed here. */
type FuzzedFormat = Extract<RecordFormat, "math" | "choice" | "pairs">;

function validRecordArbitrary(format: FuzzedFormat): fc.Arbitrary<Record<string, unknown>> {
  switch (format) {
    case "math":
      return fc.record({
        answer: fc.nat(99).map(String),
        problem: textArbitrary(10),
        withSolution: chance(0.8),
        withAnswer: chance(0.7),
      }).map(({ answer, problem, withSolution, withAnswer }) => ({
        problem: `What is ${problem}?`,
        ...(withSolution ? { solution: `So it is \\boxed{${answer}}.` } : {}),
        ...(withAnswer ? { answer } : {}),
      }));
    case "choice":
      return fc.array(textArbitrary(8), { minLength: 2, maxLength: 5 }).chain((options) =>
        fc.record({
          question: textArbitrary(20),
          asList: fc.boolean(),
          key: fc.constantFrom("answer_idx", "answer", "label"),
          answer: fc.oneof(
            fc.nat(options.length + 1) as fc.Arbitrary<unknown>,
            fc.constantFrom("A", "B", "(C)", "d.", "Z", ""),
            fc.constantFrom(...options),
            textArbitrary(5),
          ),
        }).map(({ question, asList, key, answer }) => ({
          question,
          options: asList
            ? options
            : Object.fromEntries(options.map((o, i) => [String.fromCharCode(65 + i), o])),
          [key]: answer,
        }))
      );
    case "pairs":
      return fc.oneof(
        fc.record({ prompt: textArbitrary(20), response: textArbitrary(20) }),
        fc.record({
          instruction: textArbitrary(20),
          input: textArbitrary(5),
          output: textArbitrary(20),
        }),
      );
  }
}

function recordLineArbitrary(format: FuzzedFormat): fc.Arbitrary<string> {
  return validRecordArbitrary(format).chain((record) => {
    const line = JSON.stringify(record);
    const keys = Object.keys(record).length ? Object.keys(record) : ["x"];
    return fc.oneof(
      { weight: 1, arbitrary: jsonArbitrary(3).map((v) => JSON.stringify(v)) },
      {
        weight: 1,
        arbitrary: fc.nat(Math.max(0, line.length - 1)).map((n) => line.slice(0, n)),
      },
      { weight: 1, arbitrary: textArbitrary(30) },
      {
        weight: 1,
        arbitrary: fc.tuple(fc.constantFrom(...keys), jsonArbitrary(2)).map(([key, value]) =>
          JSON.stringify({ ...record, [key]: value })
        ),
      },
      { weight: 1, arbitrary: fc.constant("") },
      { weight: 3, arbitrary: fc.constant(line) },
    );
  });
}

/** One JSONL/JSON data case. */
export interface JsonlCase {
  /** The record format. */
  readonly format: FuzzedFormat;
  /** The file name (`.json` or `.jsonl`). */
  readonly file: string;
  /** The file content. */
  readonly text: string;
  /** Training records (answers required) or test records. */
  readonly training: boolean;
  /** The loader's lenient flag. */
  readonly lenient: boolean;
}

/** The JSONL/JSON record loaders of the `jsonl` domain, all three formats. */
export const jsonlTarget: FuzzTarget<JsonlCase> = {
  name: "JSONL/JSON data file",
  inputs:
    "math/choice/pairs files of valid, truncated, non-JSON, non-object and mutated records (answers not among the options, wrong types), blank lines, empty files, JSON arrays",
  typedError: "DataError",
  arbitrary: fc.constantFrom<FuzzedFormat>("math", "choice", "pairs").chain((format) =>
    fc.record({
      lines: fc.array(recordLineArbitrary(format), { maxLength: 5 }),
      asArray: chance(0.2),
      wellFormedArray: chance(0.8),
      junk: textArbitrary(20),
      lf: chance(0.9),
      training: fc.boolean(),
      lenient: fc.boolean(),
    }).map(({ lines, asArray, wellFormedArray, junk, lf, training, lenient }) => ({
      format,
      file: asArray ? "fuzz.json" : "fuzz.jsonl",
      text: asArray
        ? (wellFormedArray ? `[${lines.filter((l) => l !== "").join(",")}]` : junk)
        : lines.join(lf ? "\n" : "\r\n"),
      training,
      lenient,
    }))
  ),
  run({ format, file, text, training, lenient }) {
    const result = parseRecords(file, text, (r) => convertRecord(format, r, training), lenient);
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

// ---------------------------------------------------------------------------------------------
// Answer extraction

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

const pieceArbitrary = fc.oneof(
  { weight: 7, arbitrary: fc.constantFrom(...answerPieces) },
  { weight: 3, arbitrary: textArbitrary(6) },
);

/** One answer-extraction case: a completion and the options of a multiple-choice item. */
export interface AnswerCase {
  /** The completion. */
  readonly text: string;
  /** The options. */
  readonly options: ReadonlyArray<string>;
}

/** Math answer extraction and normalisation, and multiple-choice matching. */
export const answerTarget: FuzzTarget<AnswerCase> = {
  name: "answer extraction",
  inputs:
    "completions assembled from boxed/answer-is/LaTeX/letter fragments and random text, up to a few thousand characters, with random option lists",
  typedError: "(none: always returns)",
  arbitrary: fc.record({
    parts: fc.oneof(
      { weight: 19, arbitrary: fc.array(pieceArbitrary, { maxLength: 40 }) },
      { weight: 1, arbitrary: fc.array(pieceArbitrary, { maxLength: 400 }) },
    ),
    options: fc.array(textArbitrary(10), { minLength: 2, maxLength: 5 }),
  }).map(({ parts, options }) => ({ text: parts.join(""), options })),
  run({ text, options }) {
    const math = extractMathAnswer(text);
    if (math !== null && typeof math !== "string") throw new Error("not a string");
    normalizeMathAnswer(text.slice(0, 200));
    const letter = matchChoice(text.slice(0, 600), [...options]);
    if (letter !== null && !/^[A-N]$/.test(letter)) throw new Error(`letter ${letter}`);
    return "accepted";
  },
};

// ---------------------------------------------------------------------------------------------
// Config decoding

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

/** One config case: a raw config and `path=value` overrides. */
export interface ConfigCase {
  /** The config before overrides (the tiny preset, or a random JSON value). */
  readonly raw: unknown;
  /** The overrides. */
  readonly overrides: ReadonlyArray<string>;
}

const overrideArbitrary: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: textArbitrary(12) },
  {
    weight: 9,
    arbitrary: fc.tuple(
      fc.constantFrom(...configPaths),
      fc.oneof(
        { weight: 3, arbitrary: textArbitrary(6) },
        { weight: 7, arbitrary: jsonArbitrary(2).map((v) => JSON.stringify(v)) },
      ),
    ).map(([path, value]) => `${path}=${value}`),
  },
);

/** Config decoding: `path=value` overrides, the experiment Schema, then part ids and params. */
export const configTarget: FuzzTarget<ConfigCase> = {
  name: "config decoding",
  inputs:
    "the tiny preset with random path=value overrides (wrong types, out-of-range numbers, unknown keys and ids, bad paths) and whole random JSON values",
  typedError: "ConfigError / UnknownId",
  arbitrary: fc.record({
    overrides: fc.array(overrideArbitrary, { minLength: 1, maxLength: 3 }),
    raw: fc.oneof(
      { weight: 9, arbitrary: fc.constant<unknown>(basePreset) },
      { weight: 1, arbitrary: jsonArbitrary(3) },
    ),
  }),
  async run({ raw, overrides }) {
    fuzzRegistry ??= Effect.runSync(makeRegistry([builtins]));
    const registry = fuzzRegistry;
    const program = Effect.gen(function* () {
      const overridden = yield* applyOverrides(raw, [...overrides]);
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
export const fuzzTargets: ReadonlyArray<FuzzTarget<unknown>> = [
  safetensorsTarget,
  jsonlTarget,
  answerTarget,
  configTarget,
];

/** A crash found by the fuzzer, after fast-check shrank its input. */
export interface FuzzCrash {
  /** The case that failed first (0-based, before shrinking). */
  readonly index: number;
  /** What was thrown by the shrunk input. */
  readonly error: string;
  /** The shrunk input, as fast-check prints it (cut at 400 characters). */
  readonly input: string;
  /** fast-check's `path` to replay the shrunk input with the same seed. */
  readonly path: string;
}

/** What fuzzing one target found. */
export interface FuzzReport {
  /** The target's name. */
  readonly name: string;
  /** Cases run (up to and including the first failing one). */
  readonly cases: number;
  /** Inputs parsed. */
  readonly accepted: number;
  /** Inputs refused with the typed error. */
  readonly rejected: number;
  /** Anything else thrown, or a case slower than the bound (at most one, shrunk). */
  readonly crashes: ReadonlyArray<FuzzCrash>;
  /** The slowest case in milliseconds. */
  readonly slowestMs: number;
  /** Growth of the resident set over the target, in MiB (GC permitting). */
  readonly rssGrowthMiB: number;
}

/**
 * Fuzzes one target with fast-check: `cases` inputs drawn from the target's arbitrary with `seed`
 * (the same seed draws the same inputs). The first failing input is shrunk and reported with the
 * path that replays it (`fc.check(property, { seed, path })`).
 *
 * @param target The parser.
 * @param cases How many cases.
 * @param seed The seed.
 * @param hangMs A case slower than this counts as a crash (a hang).
 * @returns The counts.
 */
export async function fuzz<T>(
  target: FuzzTarget<T>,
  cases: number,
  seed: number,
  hangMs = 2000,
): Promise<FuzzReport> {
  let accepted = 0;
  let rejected = 0;
  let slowestMs = 0;
  let failedAt: number | undefined;
  const rss0 = Deno.memoryUsage().rss;
  const property = fc.asyncProperty(target.arbitrary, async (input) => {
    const started = performance.now();
    try {
      const outcome = await target.run(input);
      const ms = performance.now() - started;
      if (ms > hangMs) throw new Error(`took ${ms.toFixed(0)} ms`);
      if (failedAt === undefined) {
        // Shrinking reruns the property; only the cases before the first failure count.
        slowestMs = Math.max(slowestMs, ms);
        if (outcome === "accepted") accepted += 1;
        else rejected += 1;
      }
    } catch (error) {
      failedAt ??= accepted + rejected;
      throw error;
    }
  });
  const details = await fc.check(property, { seed, numRuns: cases });
  const crashes: FuzzCrash[] = [];
  if (details.failed) {
    const error = details.errorInstance as Error | undefined;
    crashes.push({
      index: failedAt ?? accepted + rejected,
      error: String(error?.stack ?? error).slice(0, 400),
      input: fc.stringify(details.counterexample?.[0]).slice(0, 400),
      path: details.counterexamplePath ?? "",
    });
  }
  const rssGrowthMiB = (Deno.memoryUsage().rss - rss0) / 2 ** 20;
  return {
    name: target.name,
    cases: accepted + rejected + crashes.length,
    accepted,
    rejected,
    crashes,
    slowestMs,
    rssGrowthMiB,
  };
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
    const crashes = reports.flatMap((r) =>
      r.crashes.map((c) => `${r.name} #${c.index} (path ${c.path})`)
    );
    if (crashes.length > 0) {
      const first = reports.flatMap((r) => r.crashes)[0]!;
      return yield* Effect.die(
        new Error(
          `fuzz found ${crashes.length} crash(es) with --seed ${seed}: ${
            crashes.slice(0, 5).join(", ")
          }\nshrunk input: ${first.input}\n${first.error}`,
        ),
      );
    }
  });
