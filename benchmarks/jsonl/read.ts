/**
 * Reading records from a local data file as people save them, and as the common tools load them
 * (Hugging Face `datasets`' `load_dataset("json", data_files=...)`, pandas `read_json`): what
 * they load, probsft loads unchanged; what they refuse is refused with a one-line
 * {@link DataError} naming the file and, where one line is at fault, the 1-based line
 * (`Cannot load FILE line N: ...`). With `skipBad`, malformed records are counted and skipped.
 *
 * The layout is read from the content, not the extension, as `datasets` does:
 * - JSON Lines (one JSON object per line) in a `.jsonl`, `.json` or any other file. Lines end with
 *   LF, CRLF or CR; blank and whitespace-only lines are ignored; a final newline is optional; line
 *   numbers are the physical 1-based lines.
 * - one JSON array of objects (in a `.json` or a `.jsonl` file); records are numbered by their
 *   1-based position in the array.
 * - a file holding one JSON object that is not a line of JSON Lines (any object in a `.json` file,
 *   or one spread over several lines): refused, naming its keys and the list-valued ones, which
 *   `datasets` reads only with `field=`. The records are not taken from such a field silently:
 *   save that list alone as the file.
 *
 * The bytes are decoded by {@link readText} (UTF-8 with or without a byte-order mark, gzip;
 * UTF-16 and invalid UTF-8 refused) and each JSON text by {@link parseJsonValue} (`NaN`,
 * `Infinity` and `-Infinity` accepted as pyarrow, pandas and Python's `json` do; control
 * characters, truncated values and the like refused).
 *
 * @module
 */
import { Effect } from "effect";
import { DataError } from "../../core/errors.ts";
import { parseJsonValue } from "./json_value.ts";
import { readText } from "./text.ts";

/** One record and where it came from. */
export interface SourcedRecord {
  /** The parsed object. */
  readonly value: Readonly<Record<string, unknown>>;
  /** Its 1-based line (JSON Lines) or 1-based position in the array (JSON array). */
  readonly line: number;
}

/** A record that was skipped, and why. */
export interface SkippedRecord {
  /** Its 1-based line or position. */
  readonly line: number;
  /** The one-line reason. */
  readonly reason: string;
}

/** How a data file holds its records: one JSON value per line, or one JSON array. */
export type RecordLayout = "lines" | "array";

/** The records of a file with the skipped ones. */
export interface FileRecords<T> {
  /** The file as given. */
  readonly file: string;
  /** The converted records. */
  readonly records: ReadonlyArray<T>;
  /** The records skipped under `skipBad`. */
  readonly skipped: ReadonlyArray<SkippedRecord>;
  /** How the file held them (`line` of a record is a line for "lines", a position for "array"). */
  readonly layout?: RecordLayout;
}

const oneLine = (text: string): string => text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ").trim();

function where(file: string, line: number, layout: RecordLayout): string {
  return layout === "array" ? `${file} record ${line}` : `${file} line ${line}`;
}

/** Whether the name ends in `.json` (before a `.gz`), where one object is not a record. */
function isJsonName(file: string): boolean {
  return file.toLowerCase().replace(/\.gz$/, "").endsWith(".json");
}

const lineBreak = /\r\n|\r|\n/;
const blank = /^[ \t]*$/;

/** The 1-based line and column of an offset, counting LF, CRLF and CR as line ends. */
function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

type Parsed = { value: unknown } | { error: string };

function parseLine(text: string): Parsed {
  const parsed = parseJsonValue(text);
  return "error" in parsed
    ? { error: `${oneLine(parsed.error)} at column ${parsed.offset + 1}` }
    : parsed;
}

function describeObject(value: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(value);
  const lists = keys.filter((k) => Array.isArray(value[k]));
  const shown = keys.slice(0, 8).map((k) => JSON.stringify(k)).join(", ") +
    (keys.length > 8 ? `, … (${keys.length} keys)` : "");
  const hint = lists.length === 0
    ? ""
    : `; the records may be the list under ${
      lists.slice(0, 3).map((k) => JSON.stringify(k)).join(" or ")
    }: save that list alone as a JSON array or as JSON Lines`;
  return keys.length === 0 ? "found an empty object" : `found one object with keys ${shown}${hint}`;
}

const expected = "expected a JSON array of records or one JSON object per line";

function notRecords(file: string, value: unknown): DataError {
  const found = typeof value === "object" && value !== null
    ? describeObject(value as Record<string, unknown>)
    : `found ${value === null ? "null" : `a ${typeof value}`}`;
  return new DataError({ message: `Cannot load ${file}: ${expected}, ${found}`, file });
}

type Layout =
  | { readonly layout: RecordLayout; readonly raw: ReadonlyArray<{ line: number; parsed: Parsed }> }
  | DataError;

function layoutOf(file: string, text: string): Layout {
  const lines = text.split(lineBreak);
  const rows = (): Layout => ({
    layout: "lines",
    raw: lines.flatMap((line, i) =>
      blank.test(line) ? [] : [{ line: i + 1, parsed: parseLine(line) }]
    ),
  });
  const firstIndex = lines.findIndex((line) => !blank.test(line));
  if (firstIndex < 0) return rows();
  const single = lines.findIndex((line, i) => i > firstIndex && !blank.test(line)) < 0;
  const startsArray = lines[firstIndex]!.replace(/^[ \t]+/, "").startsWith("[");
  // One array on one line is the whole document, not a line of JSON Lines.
  const firstLine = startsArray && single ? undefined : parseJsonValue(lines[firstIndex]!);
  if (firstLine !== undefined && "value" in firstLine) {
    const value = firstLine.value;
    if (single && isJsonName(file)) return notRecords(file, value);
    return rows();
  }
  // The first line is not a whole JSON value (or the file is one array on one line): the file
  // may be one JSON document spread over lines.
  const whole = parseJsonValue(text);
  if ("value" in whole) {
    const value = whole.value;
    if (Array.isArray(value)) {
      return { layout: "array", raw: value.map((v, i) => ({ line: i + 1, parsed: { value: v } })) };
    }
    return notRecords(file, value);
  }
  if (!isJsonName(file) && !startsArray) return rows();
  const { line, column } = position(text, whole.offset);
  return new DataError({
    message: `Cannot load ${file} line ${line}: not valid JSON (${
      oneLine(whole.error)
    } at column ${column})`,
    file,
    line,
  });
}

/**
 * Converts the text of a data file into records (pure; no effects). A leading byte-order mark is
 * dropped; the layout (JSON Lines or one JSON array) is read from the content (see the module
 * doc).
 *
 * @param file The file name, for messages (a name ending in `.json` or `.json.gz` refuses a single
 *   object, which elsewhere is one line of JSON Lines).
 * @param text Its content.
 * @param convert Turns a record into a value, or a string saying what is wrong with it.
 * @param skipBad Skip malformed records instead of failing.
 * @returns The records, or the {@link DataError} to fail with.
 */
export function parseRecords<T>(
  file: string,
  text: string,
  convert: (record: Readonly<Record<string, unknown>>) => T | string,
  skipBad: boolean,
): FileRecords<T> | DataError {
  const found = layoutOf(file, text.startsWith("\uFEFF") ? text.slice(1) : text);
  if (found instanceof DataError) return found;
  const { layout, raw } = found;
  if (raw.length === 0) {
    return new DataError({ message: `Cannot load ${file}: the file is empty`, file });
  }
  const records: T[] = [];
  const skipped: SkippedRecord[] = [];
  for (const { line, parsed } of raw) {
    let reason: string;
    if ("error" in parsed) reason = `not valid JSON (${parsed.error})`;
    else if (
      typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value)
    ) {
      reason = "expected a JSON object";
    } else {
      const converted = convert(parsed.value as Record<string, unknown>);
      if (typeof converted !== "string") {
        records.push(converted);
        continue;
      }
      reason = converted;
    }
    if (!skipBad) {
      return new DataError({
        message: `Cannot load ${where(file, line, layout)}: ${reason}`,
        file,
        ...(layout === "array" ? {} : { line }),
      });
    }
    skipped.push({ line, reason });
  }
  if (records.length === 0) {
    const first = skipped[0]!;
    return new DataError({
      message: `Cannot load ${file}: all ${skipped.length} records are malformed (first, ${
        where(file, first.line, layout)
      }: ${first.reason})`,
      file,
    });
  }
  return { file, records, skipped, layout };
}

/**
 * Reads a data file (bytes, gunzipped and strictly decoded by {@link readText}) and converts each
 * record (see {@link parseRecords}); logs a warning with the count when records were skipped.
 *
 * @param file The path (relative to the working directory).
 * @param convert Turns a record into a value, or a string saying what is wrong with it.
 * @param skipBad Skip malformed records instead of failing.
 * @returns The converted records and the skipped ones.
 */
export function readRecords<T>(
  file: string,
  convert: (record: Readonly<Record<string, unknown>>) => T | string,
  skipBad: boolean,
): Effect.Effect<FileRecords<T>, DataError> {
  return Effect.gen(function* () {
    const text = yield* readText(file);
    const result = parseRecords(file, text, convert, skipBad);
    if (result instanceof DataError) return yield* result;
    if (result.skipped.length > 0) {
      const first = result.skipped[0]!;
      yield* Effect.logWarning(
        `Skipped ${result.skipped.length} malformed record(s) of ${file} (first, ${
          where(file, first.line, result.layout ?? "lines")
        }: ${first.reason})`,
      );
    }
    return result;
  });
}
