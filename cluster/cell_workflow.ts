/**
 * The durable workflow that computes one cell of a sweep on the cluster. Its execution id is
 * derived from the cell's key (a slug and the content hash of its resolved config), the tensor
 * backend and a placement token (the attempt, and a salt that puts the execution on a chosen
 * runner's shard: `cluster/placement.ts`). A submission reuses an earlier execution of the same
 * cell unless it failed, so a cell submitted twice, by one sweep or by two, is computed once,
 * and a failed cell is computed again, under a new attempt, when its sweep is resubmitted.
 *
 * @module
 */
import { Schema } from "effect";
import { Workflow } from "effect/workflow";

/** What a runner needs to rebuild and run one cell: the whole sweep's config and the cell's key. */
export const CellPayload = Schema.Struct({
  /** The sweep that first submitted the cell (for progress rows). */
  sweep: Schema.String,
  /** The cell key from `planCells` (slug and content hash). */
  key: Schema.String,
  /** The decoded experiment config, as JSON. */
  config: Schema.String,
  /** Where the config came from (for messages). */
  source: Schema.String,
  /** Third-party plugin specifiers the config needs. */
  plugins: Schema.Array(Schema.String),
  /** The tensor backend the cell runs on. */
  backend: Schema.String,
  /** The sweep's output folder (checkpoints and metrics of running cells go to its `cells/`). */
  out: Schema.String,
  /** The placement token: `<attempt>.<salt>` (part of the execution id, not of the work). */
  placement: Schema.String,
});

/** The decoded payload of a cell workflow. */
export type CellPayload = typeof CellPayload.Type;

/** A cell that ended with a user error (a bad config, a plugin or data error). */
export const CellFailed = Schema.Struct({
  _tag: Schema.Literal("CellFailed"),
  /** The cell key. */
  key: Schema.String,
  /** The error a user reads. */
  message: Schema.String,
});

/** The failure of a cell workflow. */
export type CellFailed = typeof CellFailed.Type;

/**
 * One cell as a durable workflow. It succeeds with the cell's `CellResult` as JSON (exactly what
 * the local runner writes to `cells/<key>.json`) and fails with {@link CellFailed}.
 */
export const CellWorkflow = Workflow.make("ProbsftCell", {
  payload: CellPayload,
  success: Schema.String,
  error: CellFailed,
  idempotencyKey: (payload) => `${payload.key}@${payload.backend}/${payload.placement}`,
});
