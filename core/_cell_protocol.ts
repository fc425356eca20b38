/**
 * The line protocol between a parallel run and its cell workers (core/worker_pool.ts, the
 * `cell-worker` command): one JSON value per line. The parent writes a {@link WorkerSetup}, then
 * one `{ "run": KEY }` per cell; closing the worker's stdin ends it. The worker answers with
 * {@link WorkerMessage}s on stdout, each line starting with {@link messageMark} so that anything
 * else a library prints there is passed on as a log line instead of breaking the protocol.
 * Numbers that JSON cannot hold (NaN, ±Infinity: a score of an empty set) travel as
 * `{ "$float": "NaN" }`, so that a cell's result reaches the parent exactly as the worker made it.
 *
 * @module
 */
import type { CellResult } from "./cell.ts";
import {
  BackendError,
  CheckpointError,
  ConfigError,
  DataError,
  DuplicateId,
  OutputError,
  PluginError,
  UnknownId,
  type UserError,
} from "./errors.ts";
import type { StepMetrics } from "./train.ts";

/** What a worker needs to plan the same cells as its parent. */
export interface WorkerSetup {
  /** The decoded experiment, as JSON (decoded again by the worker). */
  readonly config: string;
  /** Where the config came from (for messages). */
  readonly source: string;
  /** Third-party plugin specifiers, as given to the parent. */
  readonly plugins: ReadonlyArray<string>;
  /** The tensor backend. */
  readonly backend: string;
  /** The output folder (checkpoints and metrics of running cells). */
  readonly out: string;
  /** The pretrained-backbone cache. */
  readonly cacheDir: string;
}

/** A user error as it crosses the process boundary: its tag and its fields. */
export interface WireError {
  /** The error's `_tag`. */
  readonly tag: string;
  /** Its message and fields. */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** What a worker says. */
export type WorkerMessage =
  | { readonly t: "ready" }
  | { readonly t: "setup-failed"; readonly error: WireError }
  | { readonly t: "log"; readonly line: string }
  | {
    readonly t: "step";
    readonly key: string;
    readonly metrics: StepMetrics;
    readonly total: number;
  }
  | { readonly t: "built"; readonly key: string; readonly planBytes?: number }
  | { readonly t: "done"; readonly key: string; readonly result: CellResult }
  | { readonly t: "failed"; readonly key: string; readonly error: WireError }
  | { readonly t: "defect"; readonly key: string; readonly message: string };

/** The environment variable that carries the parent's process id to a worker. */
export const parentPidVariable = "PROBSFT_WORKER_PARENT";

/** The start of every protocol line on a worker's stdout (ASCII record separator + name). */
export const messageMark = "\u001eprobsft ";

function replacer(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? { $float: String(value) } : value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$float") {
      return Number((value as { $float: string }).$float);
    }
  }
  return value;
}

/**
 * Calls `onLine` with each line of a byte stream (without its newline) until the stream ends.
 *
 * @param stream The stream (a process's stdout or stdin).
 * @param onLine Receives each line.
 * @returns When the stream has ended.
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let cut: number;
    while ((cut = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, cut));
      rest = rest.slice(cut + 1);
    }
  }
  if (rest !== "") onLine(rest);
}

/**
 * One protocol line (without the mark), non-finite numbers kept.
 *
 * @param value The message.
 * @returns The JSON text.
 */
export function encodeLine(value: unknown): string {
  return JSON.stringify(value, replacer);
}

/**
 * Parses a protocol line written by {@link encodeLine}.
 *
 * @param text The JSON text.
 * @returns The value, non-finite numbers restored.
 */
export function decodeLine<T>(text: string): T {
  return JSON.parse(text, reviver) as T;
}

/**
 * A user error as tag and fields, to send to the other process.
 *
 * @param error The error.
 * @returns Its wire form.
 */
export function toWire(error: UserError): WireError {
  return { tag: error._tag, fields: { ...error, message: error.message } };
}

/**
 * The error a {@link WireError} stands for, as the same class.
 *
 * @param wire The wire form.
 * @returns The error (a ConfigError carrying the message for a tag this side does not know).
 */
export function fromWire(wire: WireError): UserError {
  const { _tag: _ignored, ...rest } = wire.fields as Record<string, unknown>;
  // The fields were the error's own on the other side: the same class takes them back.
  const f = rest as never;
  switch (wire.tag) {
    case "ConfigError":
      return new ConfigError(f);
    case "UnknownId":
      return new UnknownId(f);
    case "PluginError":
      return new PluginError(f);
    case "DataError":
      return new DataError(f);
    case "CheckpointError":
      return new CheckpointError(f);
    case "OutputError":
      return new OutputError(f);
    case "DuplicateId":
      return new DuplicateId(f);
    case "BackendError":
      return new BackendError(f);
    default:
      return new ConfigError({ message: String(rest.message), where: "cell worker" });
  }
}
