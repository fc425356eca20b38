/**
 * The tagged errors of probsft. Each names where the problem is (file, line, field path, plugin)
 * and the bad value, in a one-line `message` that the command line prints as it is.
 *
 * The bases are declared as annotated constants so that the public types stay explicit for JSR.
 *
 * @module
 */
import { Data } from "effect";
import type { Cause } from "effect";

/** The shape shared by every probsft error: a tag and a one-line message for the user. */
export type ProbsftErrorShape<Tag extends string, Fields> =
  & Cause.YieldableError
  & { readonly _tag: Tag; readonly message: string }
  & Readonly<Fields>;

type ErrorBase<Tag extends string, Fields> = new (
  args: { readonly message: string } & Readonly<Fields>,
) => ProbsftErrorShape<Tag, Fields>;

/** Fields of {@link ConfigError}. */
export interface ConfigErrorFields {
  /** Where the bad value came from: a file, a command-line flag or an override. */
  readonly where: string;
}
const ConfigErrorBase: ErrorBase<"ConfigError", ConfigErrorFields> = Data.TaggedError(
  "ConfigError",
);
/** A configuration value that cannot be decoded, or a choice that conflicts with another. */
export class ConfigError extends ConfigErrorBase {}

/** Fields of {@link UnknownId}. */
export interface UnknownIdFields {
  /** The kind of part looked up ("objective", "backbone", …). */
  readonly kind: string;
  /** The id that no plugin registers. */
  readonly id: string;
  /** The ids of that kind that are registered. */
  readonly known: ReadonlyArray<string>;
}
const UnknownIdBase: ErrorBase<"UnknownId", UnknownIdFields> = Data.TaggedError("UnknownId");
/** A config names a part id that no plugin registers. */
export class UnknownId extends UnknownIdBase {}

/** Fields of {@link DuplicateId}. */
export interface DuplicateIdFields {
  /** The kind of part registered twice. */
  readonly kind: string;
  /** The id registered twice. */
  readonly id: string;
  /** The names of the two plugins that register it. */
  readonly plugins: readonly [string, string];
}
const DuplicateIdBase: ErrorBase<"DuplicateId", DuplicateIdFields> = Data.TaggedError(
  "DuplicateId",
);
/** Two plugins register the same id for the same kind of part. */
export class DuplicateId extends DuplicateIdBase {}

/** Fields of {@link PluginError}. */
export interface PluginErrorFields {
  /** The plugin (or part id) that failed. */
  readonly plugin: string;
}
const PluginErrorBase: ErrorBase<"PluginError", PluginErrorFields> = Data.TaggedError(
  "PluginError",
);
/** A plugin that cannot be loaded, does not conform, or fails while it runs. */
export class PluginError extends PluginErrorBase {}

/** Fields of {@link DataError}. */
export interface DataErrorFields {
  /** The data file (or generator id) at fault. */
  readonly file: string;
  /** The 1-based line, when the fault is on one line. */
  readonly line?: number;
}
const DataErrorBase: ErrorBase<"DataError", DataErrorFields> = Data.TaggedError("DataError");
/** A data file that is missing, empty or malformed. */
export class DataError extends DataErrorBase {}

/** Fields of {@link CheckpointError}. */
export interface CheckpointErrorFields {
  /** The checkpoint file or directory at fault. */
  readonly file: string;
}
const CheckpointErrorBase: ErrorBase<"CheckpointError", CheckpointErrorFields> = Data
  .TaggedError("CheckpointError");
/** A model directory or weight file that is missing, truncated or does not match its config. */
export class CheckpointError extends CheckpointErrorBase {}

/** Fields of {@link BackendError}. */
export interface BackendErrorFields {
  /** The tensor backend that could not start. */
  readonly backend: string;
}
const BackendErrorBase: ErrorBase<"BackendError", BackendErrorFields> = Data.TaggedError(
  "BackendError",
);
/** A tensor backend that is unknown or cannot start on this machine. */
export class BackendError extends BackendErrorBase {}

/** Fields of {@link OutputError}. */
export interface OutputErrorFields {
  /** The file that could not be written. */
  readonly file: string;
}
const OutputErrorBase: ErrorBase<"OutputError", OutputErrorFields> = Data.TaggedError(
  "OutputError",
);
/**
 * An output file (result, checkpoint, report) that cannot be written: a full disk, a read-only
 * folder. Files written before stay complete and readable (every write is atomic).
 */
export class OutputError extends OutputErrorBase {}

/** Every error that a user's input (rather than a defect of probsft) can cause. */
export type UserError =
  | ConfigError
  | UnknownId
  | DuplicateId
  | PluginError
  | DataError
  | CheckpointError
  | BackendError
  | OutputError;

const userErrorTags: ReadonlySet<string> = new Set([
  "ConfigError",
  "UnknownId",
  "DuplicateId",
  "PluginError",
  "DataError",
  "CheckpointError",
  "BackendError",
  "OutputError",
]);

/**
 * Whether a value is one of the errors a user's input causes (printed as one line, no stack).
 *
 * @param error Any thrown or failed value.
 * @returns True for the tagged errors of this module.
 */
export function isUserError(error: unknown): error is UserError {
  return typeof error === "object" && error !== null &&
    userErrorTags.has((error as { _tag?: unknown })._tag as string);
}

/**
 * Shortens a value for an error message: strings quoted, long values cut.
 *
 * @param value The bad value.
 * @returns A short printable form.
 */
export function showValue(value: unknown): string {
  let text: string;
  if (typeof value === "number" && !Number.isFinite(value)) text = String(value);
  else if (typeof value === "string") text = JSON.stringify(value);
  else if (value === undefined) text = "undefined";
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
