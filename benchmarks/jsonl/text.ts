/**
 * The text of a data file, from its bytes, as the common tools read it: Hugging Face `datasets`
 * (`load_dataset("json", ...)`: pyarrow's JSON reader, falling back to pandas), pandas
 * `read_json` and Python's `json`. What they load is decoded unchanged; what they refuse is a
 * one-line {@link DataError} naming the file (and the line, where one line is at fault). Nothing
 * is ever replaced: invalid UTF-8 is refused, not turned into U+FFFD.
 *
 * - UTF-8, with or without a byte-order mark (EF BB BF, as Windows editors save): loaded, the mark
 *   dropped (pyarrow's reader skips it; `datasets` strips it, PR huggingface/datasets#8243).
 * - gzip (magic bytes 1F 8B, e.g. `.jsonl.gz`): decompressed, as `datasets` does for `.gz` data
 *   files. Other archives (zip, xz, bzip2, zstd) are refused with their name: decompress first.
 * - UTF-16 or UTF-32 (Notepad's "Unicode"; byte-order mark FF FE, FE FF, FF FE 00 00 or 00 00 FE
 *   FF, or NUL bytes that betray UTF-16 without one): refused, "save it as UTF-8". `datasets`
 *   reads `encoding="utf-8"` by default and fails on such a file, as does Python's `open`.
 * - Invalid UTF-8 (say a Latin-1 "é", byte E9): refused with the 1-based line and the byte offset
 *   of the first bad byte (Python's strict `utf-8` codec, used by `datasets`, refuses it too).
 *
 * @module
 */
import { Effect } from "effect";
import { DataError } from "../../core/errors.ts";

const hex = (byte: number): string => byte.toString(16).toUpperCase().padStart(2, "0");

const archives: ReadonlyArray<{ readonly magic: ReadonlyArray<number>; readonly name: string }> = [
  { magic: [0x50, 0x4b, 0x03, 0x04], name: "a zip archive" },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], name: "xz-compressed" },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], name: "zstd-compressed" },
];

const startsWith = (bytes: Uint8Array, magic: ReadonlyArray<number>): boolean =>
  bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);

/** Whether the bytes are gzip data (magic bytes 1F 8B). */
export function isGzip(bytes: Uint8Array): boolean {
  return startsWith(bytes, [0x1f, 0x8b]);
}

/**
 * The byte offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or -1 when all are.
 *
 * @param bytes The bytes.
 * @returns The offset, or -1.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) low = 0xa0;
      if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) low = 0x90;
      if (b === 0xf4) high = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < low || c > high : c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** The 1-based line (counting LF, CRLF and lone CR as line ends) of a byte offset. */
function lineOfByte(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) {
    const b = bytes[i];
    if (b === 0x0a || (b === 0x0d && bytes[i + 1] !== 0x0a)) line++;
  }
  return line;
}

function utf16Without(bytes: Uint8Array): string | undefined {
  if (bytes.length < 4) return undefined;
  const [a, b, c, d] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const ascii = (x: number): boolean => x > 0 && x < 0x80;
  if (ascii(a) && b === 0 && ascii(c) && d === 0) return "UTF-16LE";
  if (a === 0 && ascii(b) && c === 0 && ascii(d)) return "UTF-16BE";
  return undefined;
}

/**
 * Decodes the (uncompressed) bytes of a data file as UTF-8, strictly: a leading byte-order mark
 * is dropped; UTF-16/UTF-32 and invalid UTF-8 are refused (see the module doc).
 *
 * @param file The file name, for messages.
 * @param bytes Its content.
 * @returns The text, or the {@link DataError} to fail with.
 */
export function decodeText(file: string, bytes: Uint8Array): string | DataError {
  const refuse = (what: string, line?: number): DataError =>
    new DataError({
      message: `Cannot load ${file}${line === undefined ? "" : ` line ${line}`}: ${what}`,
      file,
      ...(line === undefined ? {} : { line }),
    });
  if (startsWith(bytes, [0xff, 0xfe, 0x00, 0x00]) || startsWith(bytes, [0x00, 0x00, 0xfe, 0xff])) {
    const mark = Array.from(bytes.subarray(0, 4), hex).join(" ");
    return refuse(`the file is UTF-32 (byte-order mark ${mark}); save it as UTF-8`);
  }
  if (startsWith(bytes, [0xff, 0xfe]) || startsWith(bytes, [0xfe, 0xff])) {
    const mark = Array.from(bytes.subarray(0, 2), hex).join(" ");
    return refuse(`the file is UTF-16 (byte-order mark ${mark}); save it as UTF-8`);
  }
  const utf16 = utf16Without(bytes);
  if (utf16 !== undefined) {
    return refuse(`the file looks like ${utf16} without a byte-order mark; save it as UTF-8`);
  }
  const bzip2 = startsWith(bytes, [0x42, 0x5a, 0x68]) && bytes[3]! >= 0x31 && bytes[3]! <= 0x39;
  const archive = bzip2
    ? "bzip2-compressed"
    : archives.find((a) => startsWith(bytes, a.magic))?.name;
  if (archive !== undefined) {
    return refuse(`the file is ${archive}; decompress it first (gzip is read as it is)`);
  }
  try {
    // `ignoreBOM: false` (the default) drops a leading UTF-8 byte-order mark.
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const offset = Math.max(0, firstInvalidUtf8(bytes));
    const byte = bytes[offset] ?? 0;
    return refuse(
      `not valid UTF-8 (byte ${hex(byte)} at byte offset ${offset}); save the file as UTF-8`,
      lineOfByte(bytes, offset),
    );
  }
}

/**
 * Decompresses gzip data (one or more members).
 *
 * @param bytes The gzip bytes.
 * @returns The decompressed bytes; rejects on corrupt or truncated data.
 */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const oneLine = (text: string): string => text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ").trim();

/**
 * Reads a data file's bytes, decompresses gzip, and decodes them strictly (see
 * {@link decodeText}).
 *
 * @param file The path (relative to the working directory).
 * @returns The text, or a one-line {@link DataError}.
 */
export function readText(file: string): Effect.Effect<string, DataError> {
  return Effect.gen(function* () {
    const raw = yield* Effect.tryPromise({
      try: () => Deno.readFile(file),
      catch: (error) =>
        new DataError({
          message: `Cannot read data file ${file}: ${
            error instanceof Deno.errors.NotFound ? "no such file" : oneLine(String(error))
          }`,
          file,
        }),
    });
    const bytes = isGzip(raw)
      ? yield* Effect.tryPromise({
        try: () => gunzip(raw),
        catch: (error) =>
          new DataError({
            message: `Cannot load ${file}: the gzip data is corrupt or truncated (${
              oneLine(error instanceof Error ? error.message : String(error))
            })`,
            file,
          }),
      })
      : raw;
    const text = decodeText(file, bytes);
    if (text instanceof DataError) return yield* text;
    return text;
  });
}
