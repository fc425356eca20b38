/**
 * The safetensors format, read and written here as its specification
 * (https://github.com/huggingface/safetensors, README "Format", and the reference crate's
 * `SafeTensors::read_metadata` / `Metadata::validate`) lays it out: an 8-byte little-endian
 * header length N, then N bytes of UTF-8 JSON, then the byte buffer of the tensors.
 *
 * Reading enforces every rule of the format and names the file, the tensor and the bad value in a
 * one-line {@link CheckpointError}:
 *
 * - the file holds the 8-byte length; N is at most 100,000,000 and the header fits in the file;
 * - the header is valid UTF-8, begins with `{`, is one JSON object (the serde_json subset: no
 *   lone surrogates, nesting at most 128 deep) and is padded after its closing brace by spaces
 *   (0x20) only;
 * - no key appears twice in any object of the header (`JSON.parse` would keep the last one
 *   silently, so the header is parsed here by a small strict parser);
 * - `__metadata__`, when present, is an object whose values are all strings;
 * - every other entry is an object with exactly `dtype` (a dtype of the format), `shape`
 *   (non-negative integers) and `data_offsets` (`[begin, end]`, non-negative integers, begin ≤
 *   end), and `end - begin` equals the product of the shape times the dtype's size, computed
 *   without overflow;
 * - sorted by offset, the tensors cover the byte buffer from 0 to the end of the file with no gap,
 *   no overlap and no trailing byte.
 *
 * F32, F16 and BF16 are read into float32; any other dtype of the format fails with a
 * {@link CheckpointError} naming it. Writing produces F32 tensors sorted by name, laid out
 * contiguously, with the header padded by spaces to a multiple of 8 bytes; the files it writes
 * pass every rule above.
 *
 * @module
 */
import { Effect } from "effect";
import { CheckpointError } from "../core/errors.ts";

/** One tensor read from or written to a safetensors file. */
export interface SafeTensor {
  /** The dtype in the file (`F32`, `F16` or `BF16` when read; always `F32` when written). */
  readonly dtype: string;
  /** The shape. */
  readonly shape: ReadonlyArray<number>;
  /** The values as float32. */
  readonly data: Float32Array;
}

/** The content of a safetensors file. */
export interface SafeTensors {
  /** Tensors by name, in the order of their data in the file. */
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The largest header the reference implementation reads (`MAX_HEADER_SIZE`). */
export const maxHeaderBytes = 100_000_000;

/** Bits per element of every dtype of the format (the reference crate's `Dtype`). */
const bitsPerElement: Readonly<Record<string, number>> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

const readable: ReadonlySet<string> = new Set(["F32", "F16", "BF16"]);
const tensorKeys: ReadonlyArray<string> = ["dtype", "shape", "data_offsets"];
const maxDepth = 128; // serde_json's recursion limit
const loneSurrogate = /[\uD800-\uDFFF]/u; // with the u flag only unpaired halves match
const integerText = /^(?:0|[1-9][0-9]*)$/;
const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** A tensor name as shown in a message: quoted when it has spaces or control characters. */
function shown(name: string): string {
  return /^[\x21-\x7e]+$/.test(name) ? name : JSON.stringify(name);
}

function fail(file: string, what: string): never {
  throw new CheckpointError({ message: `Cannot read ${file}: ${what}`, file });
}

// ---------------------------------------------------------------------------------------------
// A strict JSON parser for the header: objects as Maps (so that duplicate keys are seen and
// `__proto__` is an ordinary key), numbers kept as their text (so that `1.0`, `1e3` and `-0` are
// told apart from integers, as serde_json does for unsigned fields).

/** A JSON number as written in the header. */
class JsonNumber {
  constructor(readonly text: string) {}
}

type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | Map<string, JsonValue>;

/** A header value as shown in a message: compact JSON, cut after about 80 characters. */
function show(value: JsonValue | undefined, budget = 80): string {
  if (value === undefined) return "nothing";
  if (value === null || typeof value === "boolean") return String(value);
  if (typeof value === "string") {
    const text = JSON.stringify(value);
    return text.length > budget ? `${text.slice(0, budget)}…` : text;
  }
  if (value instanceof JsonNumber) return value.text;
  const [open, close, items] = Array.isArray(value)
    ? ["[", "]", value.map((v) => [undefined, v] as const)]
    : ["{", "}", [...value].map(([k, v]) => [k, v] as const)];
  let out = open;
  for (const [key, item] of items) {
    if (out.length > budget) return `${out}…`;
    if (out.length > 1) out += ",";
    if (key !== undefined) out += `${JSON.stringify(key)}:`;
    out += show(item, budget - out.length);
  }
  return out + close;
}

function parseHeaderJson(text: string, file: string): Map<string, JsonValue> {
  let at = 0;
  const syntax = (what: string): never =>
    fail(file, `header is not valid JSON (${what} at character ${at})`);
  const skip = () => {
    for (; at < text.length; at++) {
      const c = text.charCodeAt(at);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    }
  };
  const string = (): string => {
    const start = at++;
    for (;;) {
      if (at >= text.length) {
        at = start;
        syntax("unterminated string");
      }
      const c = text.charCodeAt(at);
      if (c === 0x22) break;
      if (c === 0x5c) at += 2;
      else if (c < 0x20) syntax("control character in a string");
      else at++;
    }
    at++;
    let value: string;
    try {
      value = JSON.parse(text.slice(start, at));
    } catch {
      at = start;
      return syntax("bad escape in a string");
    }
    if (loneSurrogate.test(value)) {
      at = start;
      syntax("lone surrogate in a string");
    }
    return value;
  };
  const duplicate = (owner: string | undefined, key: string): never => {
    if (owner === undefined) {
      return fail(
        file,
        key === "__metadata__"
          ? "header has __metadata__ twice"
          : `header names tensor ${shown(key)} twice`,
      );
    }
    return fail(
      file,
      `${owner === "__metadata__" ? "__metadata__" : `tensor ${shown(owner)}`} has key ${
        JSON.stringify(key)
      } twice`,
    );
  };
  const value = (depth: number, owner: string | undefined): JsonValue => {
    skip();
    const c = text[at];
    if (c === "{" || c === "[") {
      if (depth >= maxDepth) syntax(`nesting deeper than ${maxDepth}`);
      at++;
      skip();
      if (c === "[") {
        const array: JsonValue[] = [];
        if (text[at] === "]") {
          at++;
          return array;
        }
        for (;;) {
          array.push(value(depth + 1, owner));
          skip();
          if (text[at] === ",") at++;
          else if (text[at] === "]") {
            at++;
            return array;
          } else syntax("expected ',' or ']'");
        }
      }
      const map = new Map<string, JsonValue>();
      if (text[at] === "}") {
        at++;
        return map;
      }
      for (;;) {
        skip();
        if (text[at] !== '"') syntax("expected a string key");
        const key = string();
        if (map.has(key)) duplicate(owner, key);
        skip();
        if (text[at] !== ":") syntax("expected ':'");
        at++;
        map.set(key, value(depth + 1, owner ?? key));
        skip();
        if (text[at] === ",") at++;
        else if (text[at] === "}") {
          at++;
          return map;
        } else syntax("expected ',' or '}'");
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return literal;
      }
    }
    numberPattern.lastIndex = at;
    const number = numberPattern.exec(text);
    if (number === null) {
      return syntax(at >= text.length ? "unexpected end" : `unexpected ${JSON.stringify(c)}`);
    }
    at += number[0].length;
    return new JsonNumber(number[0]);
  };
  if (text[0] !== "{") {
    fail(
      file,
      `header begins with ${
        text.length === 0 ? "nothing" : JSON.stringify(text[0])
      }, not "{" as the format requires`,
    );
  }
  const header = value(0, undefined) as Map<string, JsonValue>;
  for (; at < text.length; at++) {
    if (text.charCodeAt(at) !== 0x20) {
      fail(
        file,
        `header has ${
          JSON.stringify(text[at])
        } after its closing brace at character ${at}; only spaces (0x20) may pad it`,
      );
    }
  }
  return header;
}

/**
 * A non-negative integer of the header. The Rust crate takes any u64; above 2^53 − 1 JavaScript
 * numbers lose precision, and no file can hold that many bytes, so such values are refused.
 */
function indexOf(value: JsonValue | undefined): number | undefined {
  if (!(value instanceof JsonNumber) || !integerText.test(value.text)) return undefined;
  const n = Number(value.text);
  return Number.isSafeInteger(n) ? n : undefined;
}

interface Entry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

function checkEntry(file: string, name: string, raw: JsonValue, dataLength: number): Entry {
  const tensor = `tensor ${shown(name)}`;
  if (!(raw instanceof Map)) fail(file, `${tensor} is ${show(raw)}, not an object`);
  // The spec lists exactly these three fields. The reference crate (serde without
  // deny_unknown_fields) would ignore an extra key; a key it ignores is a key we cannot honour,
  // so it is refused here rather than dropped silently.
  for (const key of raw.keys()) {
    if (!tensorKeys.includes(key)) {
      fail(
        file,
        `${tensor} has unknown key ${JSON.stringify(key)}; only dtype, shape and data_offsets`,
      );
    }
  }
  for (const key of tensorKeys) if (!raw.has(key)) fail(file, `${tensor} has no ${key}`);
  const dtype = raw.get("dtype");
  if (typeof dtype !== "string" || !Object.hasOwn(bitsPerElement, dtype)) {
    fail(file, `${tensor} has unknown dtype ${show(dtype)}`);
  }
  const rawShape = raw.get("shape");
  const shape = Array.isArray(rawShape) ? rawShape.map(indexOf) : undefined;
  if (shape === undefined || shape.some((d) => d === undefined)) {
    fail(file, `${tensor} has invalid shape ${show(rawShape)}`);
  }
  const rawOffsets = raw.get("data_offsets");
  const offsets = Array.isArray(rawOffsets) ? rawOffsets.map(indexOf) : undefined;
  if (offsets === undefined || offsets.length !== 2 || offsets.some((o) => o === undefined)) {
    fail(file, `${tensor} has invalid data_offsets ${show(rawOffsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(file, `${tensor} data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    fail(
      file,
      `${tensor} data_offsets [${begin}, ${end}] fall outside the ${dataLength} data bytes`,
    );
  }
  // Overflow-safe byte count: the element count in BigInt, refused past u64 like the crate's
  // checked multiplications (ValidationOverflow).
  let count = 1n;
  for (const d of shape as number[]) {
    count *= BigInt(d);
    if (count > 0xffff_ffff_ffff_ffffn) {
      fail(file, `${tensor} has shape ${show(rawShape)} whose element count overflows 64 bits`);
    }
  }
  const bits = count * BigInt(bitsPerElement[dtype]!);
  if (bits % 8n !== 0n) {
    fail(file, `${tensor} of ${dtype} ${show(rawShape)} does not fill a whole number of bytes`);
  }
  if (BigInt(end - begin) !== bits / 8n) {
    fail(
      file,
      `${tensor} has ${end - begin} bytes, expected ${bits / 8n} for ${dtype} ${show(rawShape)}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/**
 * Parses safetensors bytes; throws a one-line {@link CheckpointError} naming the file and the
 * fault when the bytes break any rule of the format (see the module documentation).
 *
 * @param bytes The file content.
 * @param file The file name, for messages.
 * @param only Read only these tensor names (all when absent; the whole header is checked anyway).
 * @returns Tensors (in the order of their data) and metadata.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  file: string,
  only?: ReadonlySet<string>,
): SafeTensors {
  if (bytes.length < 8) {
    fail(file, `file of ${bytes.length} bytes is shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(maxHeaderBytes)) {
    fail(file, `header length ${headerLength} exceeds the format's limit of ${maxHeaderBytes}`);
  }
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(
      file,
      `header length ${headerLength} exceeds the ${
        bytes.length - 8
      } bytes after it (truncated file?)`,
    );
  }
  const headerEnd = 8 + Number(headerLength);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, headerEnd),
    );
  } catch {
    return fail(file, "header is not valid UTF-8");
  }
  const header = parseHeaderJson(text, file);
  const dataLength = bytes.length - headerEnd;
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of header) {
    if (name !== "__metadata__") {
      entries.push(checkEntry(file, name, raw, dataLength));
      continue;
    }
    if (!(raw instanceof Map)) fail(file, `__metadata__ is ${show(raw)}, not an object`);
    for (const [key, value] of raw) {
      if (typeof value !== "string") {
        fail(file, `__metadata__ ${JSON.stringify(key)} is ${show(value)}, not a string`);
      }
    }
    metadata = Object.fromEntries(raw as Map<string, string>);
  }
  // Sorted by offset, the tensors must tile the byte buffer exactly (the crate's validate:
  // InvalidOffset for a gap or an overlap, MetadataIncompleteBuffer for bytes past the last).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < covered) {
      fail(
        file,
        `tensors ${shown(previous!.name)} [${previous!.begin}, ${previous!.end}] and ${
          shown(e.name)
        } [${e.begin}, ${e.end}] overlap`,
      );
    }
    if (e.begin > covered) {
      fail(
        file,
        `tensor ${
          shown(e.name)
        } data_offsets [${e.begin}, ${e.end}] leave a gap: data bytes ${covered} to ${e.begin} belong to no tensor`,
      );
    }
    covered = e.end;
    previous = e;
  }
  if (covered < dataLength) {
    fail(
      file,
      `data bytes ${covered} to ${dataLength} belong to no tensor (${
        previous ? `trailing bytes after tensor ${shown(previous.name)}` : "the header has none"
      })`,
    );
  }
  const tensors = new Map<string, SafeTensor>();
  for (const e of sorted) {
    if (only && !only.has(e.name)) continue;
    if (!readable.has(e.dtype)) {
      fail(
        file,
        `tensor ${shown(e.name)} has dtype ${e.dtype}; only F32, F16 and BF16 are supported`,
      );
    }
    const count = e.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    const at = headerEnd + e.begin;
    if (e.dtype === "F32") {
      // Hosts are little-endian (x86, ARM); a byte copy keeps the values bit-exact.
      new Uint8Array(data.buffer).set(bytes.subarray(at, at + 4 * count));
    } else if (e.dtype === "F16") {
      for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(at + 2 * i, true));
    } else {
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(at + 2 * i, true) << 16;
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Orders strings by code point, which is the byte order of their UTF-8 (as Rust sorts names). */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * Serialises float32 tensors as safetensors bytes that pass every rule of the format: tensors
 * sorted by name (code point order) and laid out contiguously from offset 0, `__metadata__` keys
 * sorted, the header padded with spaces to a multiple of 8 bytes.
 *
 * @param tensors Name → shape (non-negative integers) and values (as many as the shape holds).
 * @param metadata The `__metadata__` strings.
 * @returns The file content.
 * @throws RangeError for a non-string metadata value, a bad shape, a data length that does not
 * match the shape, the name `__metadata__`, or a name or metadata string with a lone surrogate.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<
    string,
    { readonly shape: ReadonlyArray<number>; readonly data: Float32Array }
  >,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const wellFormed = (what: string, s: string) => {
    if (loneSurrogate.test(s)) {
      throw new RangeError(`${what} ${JSON.stringify(s)} has a lone surrogate`);
    }
  };
  const members: string[] = [];
  const keys = Object.keys(metadata).sort(byCodePoint);
  if (keys.length > 0) {
    const pairs = keys.map((key) => {
      const value: unknown = metadata[key];
      if (typeof value !== "string") {
        throw new RangeError(
          `Metadata ${JSON.stringify(key)} is a ${
            value === null ? "null" : typeof value
          }; safetensors metadata values must be strings`,
        );
      }
      wellFormed("Metadata key", key);
      wellFormed("Metadata value", value);
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    members.push(`"__metadata__":{${pairs.join(",")}}`);
  }
  const names = [...tensors.keys()].sort(byCodePoint);
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (name === "__metadata__") {
      throw new RangeError('A tensor cannot be named "__metadata__" in safetensors');
    }
    wellFormed("Tensor name", name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RangeError(
        `Tensor ${name} has shape ${JSON.stringify(t.shape)}; dimensions must be integers >= 0`,
      );
    }
    const count = t.shape.reduce((a, d) => a * BigInt(d), 1n);
    if (count !== BigInt(t.data.length)) {
      throw new RangeError(
        `Tensor ${name} has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`,
      );
    }
    const shape = `[${t.shape.join(",")}]`;
    members.push(
      `${JSON.stringify(name)}:{"dtype":"F32","shape":${shape},"data_offsets":[${offset},${
        offset + 4 * t.data.length
      }]}`,
    );
    offset += 4 * t.data.length;
  }
  const json = new TextEncoder().encode(`{${members.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const name of names) {
    const data = tensors.get(name)!.data;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

/**
 * Reads a safetensors file.
 *
 * @param path The file.
 * @param only Read only these tensor names (all when absent).
 * @returns Tensors and metadata, or a {@link CheckpointError} naming the file.
 */
export function readSafetensors(
  path: string,
  only?: ReadonlySet<string>,
): Effect.Effect<SafeTensors, CheckpointError> {
  return Effect.tryPromise({
    try: async () => parseSafetensors(await Deno.readFile(path), path, only),
    catch: (error) =>
      error instanceof CheckpointError ? error : new CheckpointError({
        message: `Cannot read ${path}: ${String((error as Error).message ?? error).split("\n")[0]}`,
        file: path,
      }),
  });
}

/**
 * Writes a safetensors file atomically (a temporary name in the same folder, then a rename).
 *
 * @param path The file.
 * @param tensors Name → shape and float32 values.
 * @param metadata The `__metadata__` strings.
 * @returns Nothing, or a {@link CheckpointError} naming the file.
 */
export function writeSafetensors(
  path: string,
  tensors: ReadonlyMap<
    string,
    { readonly shape: ReadonlyArray<number>; readonly data: Float32Array }
  >,
  metadata: Readonly<Record<string, string>> = {},
): Effect.Effect<void, CheckpointError> {
  return Effect.tryPromise({
    try: async () => {
      const temp = `${path}.tmp-${crypto.randomUUID()}`;
      try {
        await Deno.writeFile(temp, serializeSafetensors(tensors, metadata));
        await Deno.rename(temp, path);
      } catch (error) {
        await Deno.remove(temp).catch(() => {});
        throw error;
      }
    },
    catch: (error) =>
      new CheckpointError({
        message: `Cannot write ${path}: ${
          String((error as Error).message ?? error).split("\n")[0]
        }`,
        file: path,
      }),
  });
}
