/**
 * Reading records from a local JSONL file (one JSON object per line; blank lines ignored) or a
 * JSON file (an array of objects). Every failure is a one-line {@link DataError} naming the file
 * and, for JSONL, the 1-based line; with `skipBad` malformed records are counted and skipped.
 *
 * @module
 */
import { Effect } from "effect";
import { DataError } from "../../core/errors.ts";

/** One record and where it came from. */
export interface SourcedRecord {
  /** The parsed object. */
  readonly value: Readonly<Record<string, unknown>>;
  /** Its 1-based line (JSONL) or 1-based position in the array (JSON). */
  readonly line: number;
}

/** A record that was skipped, and why. */
export interface SkippedRecord {
  /** Its 1-based line or position. */
  readonly line: number;
  /** The one-line reason. */
  readonly reason: string;
}

/** The records of a file with the skipped ones. */
export interface FileRecords<T> {
  /** The file as given. */
  readonly file: string;
  /** The converted records. */
  readonly records: ReadonlyArray<T>;
  /** The records skipped under `skipBad`. */
  readonly skipped: ReadonlyArray<SkippedRecord>;
}

const oneLine = (text: string): string => text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, " ").trim();

function where(file: string, line: number, json: boolean): string {
  return json ? `${file} record ${line}` : `${file} line ${line}`;
}

function parseJson(text: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { error: oneLine(error instanceof Error ? error.message : String(error)) };
  }
}

/**
 * Converts the text of a JSONL or JSON file into records (pure; no effects).
 *
 * @param file The file name, for messages.
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
  const json = file.toLowerCase().endsWith(".json");
  let raw: Array<{ line: number; parsed: { value: unknown } | { error: string } }>;
  if (json) {
    const all = text.trim() === "" ? { value: [] } : parseJson(text);
    if ("error" in all) {
      return new DataError({ message: `Cannot load ${file}: not valid JSON (${all.error})`, file });
    }
    if (!Array.isArray(all.value)) {
      return new DataError({
        message: `Cannot load ${file}: expected a JSON array of records`,
        file,
      });
    }
    raw = all.value.map((value, i) => ({ line: i + 1, parsed: { value } }));
  } else {
    raw = text.split("\n").flatMap((line, i) =>
      line.trim() === "" ? [] : [{ line: i + 1, parsed: parseJson(line) }]
    );
  }
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
        message: `Cannot load ${where(file, line, json)}: ${reason}`,
        file,
        ...(json ? {} : { line }),
      });
    }
    skipped.push({ line, reason });
  }
  if (records.length === 0) {
    const first = skipped[0]!;
    return new DataError({
      message: `Cannot load ${file}: all ${skipped.length} records are malformed (first, ${
        where(file, first.line, json)
      }: ${first.reason})`,
      file,
    });
  }
  return { file, records, skipped };
}

/**
 * Reads a JSONL or JSON file and converts each record (see {@link parseRecords}); logs a warning
 * with the count when records were skipped.
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
    const text = yield* Effect.tryPromise({
      try: () => Deno.readTextFile(file),
      catch: (error) =>
        new DataError({
          message: `Cannot read data file ${file}: ${
            error instanceof Deno.errors.NotFound ? "no such file" : oneLine(String(error))
          }`,
          file,
        }),
    });
    const result = parseRecords(file, text, convert, skipBad);
    if (result instanceof DataError) return yield* result;
    if (result.skipped.length > 0) {
      const first = result.skipped[0]!;
      yield* Effect.logWarning(
        `Skipped ${result.skipped.length} malformed record(s) of ${file} (first, ${
          where(file, first.line, file.toLowerCase().endsWith(".json"))
        }: ${first.reason})`,
      );
    }
    return result;
  });
}
