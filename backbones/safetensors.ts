/**
 * The safetensors format, read and written here: an 8-byte little-endian header length, a JSON
 * header `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { … } }`, then
 * the raw little-endian tensor bytes (offsets relative to the end of the header).
 *
 * Reading checks the header length and every offset against the file size, that each tensor's
 * byte count matches its dtype and shape, and that no two tensors overlap. F32, F16 and BF16 are
 * read into float32; any other dtype fails with a {@link CheckpointError} naming it. Writing
 * produces F32 tensors with the header padded by spaces to a multiple of 8 bytes.
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
  /** Tensors by name, in file order. */
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
}

const bytesPerElement: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

const readable: ReadonlySet<string> = new Set(["F32", "F16", "BF16"]);

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

/**
 * Parses safetensors bytes; throws a one-line {@link CheckpointError} naming the file and the
 * fault.
 *
 * @param bytes The file content.
 * @param file The file name, for messages.
 * @param only Read only these tensor names (all when absent).
 * @returns Tensors and metadata.
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
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(
      file,
      `header length ${headerLength} exceeds the ${
        bytes.length - 8
      } bytes after it (truncated file?)`,
    );
  }
  const headerEnd = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, headerEnd)),
    );
  } catch (error) {
    fail(file, `header is not valid JSON (${String((error as Error).message).split("\n")[0]})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(file, "header is not a JSON object");
  }
  const dataLength = bytes.length - headerEnd;
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] =
    [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        fail(file, "__metadata__ is not an object");
      }
      metadata = Object.fromEntries(
        Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      );
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof entry !== "object" || entry === null) {
      fail(file, `tensor ${shown(name)} is not an object`);
    }
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string" || !(dtype in bytesPerElement)) {
      fail(file, `tensor ${shown(name)} has unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(file, `tensor ${shown(name)} has invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isInteger(o) && o >= 0)
    ) {
      fail(file, `tensor ${shown(name)} has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end > dataLength) {
      fail(
        file,
        `tensor ${
          shown(name)
        } data_offsets [${begin}, ${end}] fall outside the ${dataLength} data bytes`,
      );
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = count * bytesPerElement[dtype]!;
    if (end - begin !== expected) {
      fail(
        file,
        `tensor ${shown(name)} has ${end - begin} bytes, expected ${expected} for ${dtype} ${
          JSON.stringify(shape)
        }`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (b.begin < a.end) {
      fail(
        file,
        `tensors ${shown(a.name)} [${a.begin}, ${a.end}] and ${
          shown(b.name)
        } [${b.begin}, ${b.end}] overlap`,
      );
    }
  }
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
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

/**
 * Serialises float32 tensors as safetensors bytes.
 *
 * @param tensors Name → shape and values, written in the map's order.
 * @param metadata The `__metadata__` strings.
 * @returns The file content.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<
    string,
    { readonly shape: ReadonlyArray<number>; readonly data: Float32Array }
  >,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new RangeError(
        `Tensor ${name} has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`,
      );
    }
    header[name] = {
      dtype: "F32",
      shape: [...t.shape],
      data_offsets: [offset, offset + 4 * count],
    };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const padding = (8 - (headerBytes.length % 8)) % 8;
  if (padding > 0) {
    json += " ".repeat(padding);
    headerBytes = encoder.encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += 4 * t.data.length;
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
