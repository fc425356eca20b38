/**
 * Experiments as data: one Schema decodes a preset (JSON) after `path=value` overrides; a grid is
 * the product of domains × backbones × objectives × seeds. Unknown keys are errors; every part is
 * chosen as `{ "id": …, "params": { … } }` and its params are decoded later by its own Schema.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { decodeWith } from "./decode.ts";
import { ConfigError } from "./errors.ts";
import type { Recompute } from "./plugin.ts";

const positiveInt = Schema.Int.check(Schema.isGreaterThan(0));
const positive = Schema.Finite.check(Schema.isGreaterThan(0));
const unit = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }));

const choiceFields = {
  id: Schema.String,
  params: Schema.optionalKey(Schema.Unknown),
  label: Schema.optionalKey(Schema.String),
};
const Choice = Schema.Struct(choiceFields);

const TrainFields = Schema.Struct({
  steps: Schema.optionalKey(positiveInt),
  batchSize: Schema.optionalKey(positiveInt),
  learningRate: Schema.optionalKey(positive),
  warmupRatio: Schema.optionalKey(unit),
  weightDecay: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  beta1: Schema.optionalKey(unit),
  beta2: Schema.optionalKey(unit),
  clipNorm: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  checkpointEvery: Schema.optionalKey(positiveInt),
  maxSkippedShare: Schema.optionalKey(unit),
  microBatchSize: Schema.optionalKey(positiveInt),
  lossAggregation: Schema.optionalKey(Schema.Literals(["micro-batch-mean", "token-mean"])),
  lossChunkPositions: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  recompute: Schema.optionalKey(
    Schema.Union([Schema.Boolean, Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))]),
  ),
});

const EvaluationFields = Schema.Struct({
  maxItems: Schema.optionalKey(positiveInt),
  batchSize: Schema.optionalKey(positiveInt),
  samples: Schema.optionalKey(positiveInt),
});

/** The roots a figure's field path may start from: the fields of a finished cell's record. */
const figureRoots = [
  "domain",
  "backbone",
  "objective",
  "seed",
  "baseSeed",
  "probe",
  "meanPAfter",
  "primary",
  "scores",
] as const;

const FieldPath = Schema.String.check(
  Schema.isPattern(new RegExp(`^(${figureRoots.join("|")})(\\.[^.]+)*$`), {
    expected: `a field path of a cell record starting with one of ${figureRoots.join(", ")}`,
  }),
);

const FigureSchema = Schema.Struct({
  title: Schema.String,
  file: Schema.String.check(
    Schema.isPattern(/^(?!continuum\.svg$|likelihood\.svg$|curves-)[a-z0-9][a-z0-9-]*\.svg$/, {
      expected:
        "a file name such as alpha-sweep.svg (lower case, digits and dashes; not continuum.svg, likelihood.svg or curves-*)",
    }),
  ),
  x: FieldPath,
  y: Schema.optionalKey(FieldPath),
  series: Schema.optionalKey(Schema.Array(FieldPath).check(Schema.isMinLength(1))),
  objectives: Schema.optionalKey(Schema.Array(Schema.String).check(Schema.isMinLength(1))),
  xLabel: Schema.optionalKey(Schema.String),
  yLabel: Schema.optionalKey(Schema.String),
  xLog: Schema.optionalKey(Schema.Boolean),
});

const DomainEntry = Schema.Struct({
  ...choiceFields,
  backbones: Schema.optionalKey(Schema.Array(Choice)),
  objectives: Schema.optionalKey(Schema.Array(Choice)),
  train: Schema.optionalKey(TrainFields),
  evaluation: Schema.optionalKey(EvaluationFields),
});

const ExperimentSchema = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  description: Schema.optionalKey(Schema.String),
  backend: Schema.optionalKey(Schema.String),
  plugins: Schema.optionalKey(Schema.Array(Schema.String)),
  domains: Schema.Array(DomainEntry).check(Schema.isMinLength(1)),
  backbones: Schema.optionalKey(Schema.Array(Choice)),
  objectives: Schema.Array(Choice).check(Schema.isMinLength(1)),
  seeds: Schema.Array(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))).check(
    Schema.isMinLength(1),
  ),
  train: Schema.optionalKey(TrainFields),
  evaluation: Schema.optionalKey(EvaluationFields),
  baseline: Schema.optionalKey(Schema.Boolean),
  saveModels: Schema.optionalKey(Schema.Boolean),
  seedsVaryBaseModel: Schema.optionalKey(Schema.Boolean),
  probe: Schema.optionalKey(Schema.Struct({ samplePairs: Schema.optionalKey(positiveInt) })),
  figures: Schema.optionalKey(Schema.Array(FigureSchema)),
});

/** A part chosen in a preset, with an optional display label. */
export interface ChoiceConfig {
  /** The part id. */
  readonly id: string;
  /** Its params (decoded by the part's Schema). */
  readonly params?: unknown;
  /** A short name for tables; default derived from id and params. */
  readonly label?: string;
}

/** Training settings (the paper's recipe by default). */
export interface TrainConfig {
  /** SFT steps; default one pass over the SFT set. */
  readonly steps?: number;
  /** Sequences per step. @default 32 */
  readonly batchSize?: number;
  /** Peak learning rate, the same for every objective. @default 5e-4 */
  readonly learningRate?: number;
  /** Warm-up share of the cosine schedule. @default 0.1 */
  readonly warmupRatio?: number;
  /** Decoupled weight decay. @default 0.01 */
  readonly weightDecay?: number;
  /** AdamW β1. @default 0.9 */
  readonly beta1?: number;
  /** AdamW β2. @default 0.95 */
  readonly beta2?: number;
  /** Gradient-norm clip. @default 1 */
  readonly clipNorm?: number;
  /** Steps between checkpoints of a running cell. @default 50 */
  readonly checkpointEvery?: number;
  /**
   * Most share of the steps that may be skipped for a non-finite loss or gradient; past it the
   * cell stops with an error instead of reporting a broken model. In [0, 1]. @default 0.1
   */
  readonly maxSkippedShare?: number;
  /**
   * Sequences per forward/backward pass; a step accumulates the gradients of
   * ⌈batchSize / microBatchSize⌉ micro-batches. @default batchSize
   */
  readonly microBatchSize?: number;
  /**
   * `micro-batch-mean` (the official code's mean of per-micro-batch token means) or `token-mean`
   * (one token mean over the step). @default "micro-batch-mean"
   */
  readonly lossAggregation?: "micro-batch-mean" | "token-mean";
  /** Positions per chunk of the LM head and loss; 0 never chunks. @default automatic */
  readonly lossChunkPositions?: number;
  /**
   * Activation recomputation: every block (`true`), none (`false`) or the first n blocks
   * recompute their activations in the backward pass. @default false
   */
  readonly recompute?: Recompute;
}

/** Evaluation settings. */
export interface EvaluationConfig {
  /** Most items per benchmark set (default all). */
  readonly maxItems?: number;
  /** Prompts decoded together. @default 64 */
  readonly batchSize?: number;
  /** Overrides the samples of sampled decodings (avg@k). */
  readonly samples?: number;
}

/** A domain of the grid, optionally with its own backbones, objectives and settings. */
export interface DomainConfig extends ChoiceConfig {
  /** Backbones for this domain (replaces the top-level list). */
  readonly backbones?: ReadonlyArray<ChoiceConfig>;
  /** Objectives for this domain (replaces the top-level list). */
  readonly objectives?: ReadonlyArray<ChoiceConfig>;
  /** Training settings for this domain (over the top-level ones). */
  readonly train?: TrainConfig;
  /** Evaluation settings for this domain (over the top-level ones). */
  readonly evaluation?: EvaluationConfig;
}

/** A decoded experiment. */
export interface ExperimentConfig {
  /** Preset name. */
  readonly name?: string;
  /** What it shows. */
  readonly description?: string;
  /** Tensor backend. @default "wasm" */
  readonly backend?: string;
  /** Third-party plugin specifiers. */
  readonly plugins?: ReadonlyArray<string>;
  /** The domains. */
  readonly domains: ReadonlyArray<DomainConfig>;
  /** Backbones (capability levels) used by domains that list none. */
  readonly backbones?: ReadonlyArray<ChoiceConfig>;
  /** The objectives compared. */
  readonly objectives: ReadonlyArray<ChoiceConfig>;
  /** SFT seeds. */
  readonly seeds: ReadonlyArray<number>;
  /** Training settings. */
  readonly train?: TrainConfig;
  /** Evaluation settings. */
  readonly evaluation?: EvaluationConfig;
  /** Also evaluate each base model without SFT (the tables' first row). @default true */
  readonly baseline?: boolean;
  /**
   * Save each fine-tuned model as a Hugging Face folder, `OUT/models/CELL/` (config.json,
   * model.safetensors, generation_config.json, tokenizer files). @default false
   */
  readonly saveModels?: boolean;
  /**
   * Each seed also builds its own base model (the backbone's initialisation and pretraining seed
   * is the SFT seed, cached per seed), so a spread over seeds includes base-model variance. With
   * false every seed fine-tunes the seed-0 base. It is on by default because the built-in
   * backbones that pretrain do so in seconds to a few minutes on a CPU; a backbone that loads a
   * checkpoint ignores the seed either way. @default true
   */
  readonly seedsVaryBaseModel?: boolean;
  /** How the capability probe reads the SFT set. */
  readonly probe?: ProbeConfig;
  /** The preset's own figures: a table in report.md and an SVG plot each (core/figure.ts). */
  readonly figures?: ReadonlyArray<FigureConfig>;
}

/**
 * One figure of a preset: a table (one row per series, one column per x value) in `report.md`
 * and a line plot `OUT/<file>` of the same numbers. Its points are the rows of the experiment's
 * tables (the cells that share domain, backbone and objective, over seeds): x is read from each
 * cell's record at the path `x` (numbers are averaged over seeds, other values are categories);
 * y at `y`, as mean ± sample std over seeds. A point whose record has no value at `x` (the base
 * row, or NLL in an α sweep) is a reference: a dashed horizontal line in the plot and a column of
 * its own in the table. Paths are dot paths into a cell record of `results.json`, e.g.
 * `objective.params.alpha`, `objective.params.tau.percentile`, `backbone.params.steps`,
 * `probe.meanP`, `meanPAfter`, `scores.test/greedy`.
 */
export interface FigureConfig {
  /** Caption: the table's heading and the plot's title (e.g. "Fig. 6 left: the α sweep"). */
  readonly title: string;
  /** The SVG's file name in the output folder (lower case, digits, dashes, `.svg`). */
  readonly file: string;
  /** The path of the horizontal value in a cell record. */
  readonly x: string;
  /** The path of the plotted value. @default "primary" */
  readonly y?: string;
  /** The paths whose values, joined, name a line (a table row). @default ["objective.label"] */
  readonly series?: ReadonlyArray<string>;
  /** Only the rows of these objective labels ("base" for the base model). @default all */
  readonly objectives?: ReadonlyArray<string>;
  /** Horizontal axis label. @default the x path */
  readonly xLabel?: string;
  /** Vertical axis label. @default the y path */
  readonly yLabel?: string;
  /** Logarithmic horizontal axis (numeric x only). @default false */
  readonly xLog?: boolean;
}

/** How the capability probe reads the SFT set. */
export interface ProbeConfig {
  /**
   * Read a uniform random sample of this many SFT pairs (reported with its standard error)
   * instead of every pair. @default every pair
   */
  readonly samplePairs?: number;
}

const experimentCodec: Schema.Codec<ExperimentConfig, unknown> = ExperimentSchema as Schema.Codec<
  ExperimentConfig,
  unknown
>;

/**
 * Decodes an experiment config.
 *
 * @param raw The parsed JSON (after overrides).
 * @param where The file it came from.
 * @returns The typed config or a ConfigError with the field path and value.
 */
export function decodeExperiment(
  raw: unknown,
  where: string,
): Effect.Effect<ExperimentConfig, ConfigError> {
  return decodeWith(experimentCodec, raw, { what: "experiment config", where });
}

type PathPart = string | number;

function parsePath(path: string, where: string): Effect.Effect<PathPart[], ConfigError> {
  const parts: PathPart[] = [];
  for (const piece of path.split(".")) {
    const match = /^([^[\]]*)((?:\[\d+\])*)$/.exec(piece);
    if (match === null || (match[1] === "" && match[2] === "")) {
      return Effect.fail(
        new ConfigError({ message: `Bad override path ${JSON.stringify(path)} (${where})`, where }),
      );
    }
    if (match[1] !== "") parts.push(/^\d+$/.test(match[1]!) ? Number(match[1]) : match[1]!);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) parts.push(Number(index[1]));
  }
  return Effect.succeed(parts);
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Applies `path=value` overrides (dot paths, array indices as `.0` or `[0]`; values parsed as
 * JSON, else taken as strings). A path through a missing array element is an error.
 *
 * @param raw The parsed preset.
 * @param overrides The `path=value` strings.
 * @returns A new value with the overrides applied.
 */
export function applyOverrides(
  raw: unknown,
  overrides: ReadonlyArray<string>,
): Effect.Effect<unknown, ConfigError> {
  return Effect.gen(function* () {
    const root = structuredClone(raw) as Record<PropertyKey, unknown>;
    for (const override of overrides) {
      // Quoted when odd (control characters, spaces) so that the message stays on one line.
      const shown = /^[\x21-\x7e]*$/.test(override) ? override : JSON.stringify(override);
      const where = `override ${shown}`;
      const eq = override.indexOf("=");
      if (eq <= 0) {
        return yield* new ConfigError({
          message: `Bad override ${JSON.stringify(override)}: expected path=value`,
          where,
        });
      }
      const path = yield* parsePath(override.slice(0, eq), where);
      const value = parseValue(override.slice(eq + 1));
      let node: unknown = root;
      for (const [i, key] of path.entries()) {
        const last = i === path.length - 1;
        if (typeof node !== "object" || node === null) {
          return yield* new ConfigError({
            message: `Cannot apply override ${shown}: ${
              path.slice(0, i).join(".")
            } is not an object or array`,
            where,
          });
        }
        const container = node as Record<PropertyKey, unknown>;
        if (Array.isArray(node) && (typeof key !== "number" || key >= node.length)) {
          return yield* new ConfigError({
            message: `Cannot apply override ${shown}: index ${
              String(key)
            } is out of range (length ${node.length})`,
            where,
          });
        }
        if (last) container[key] = value;
        else {
          if (container[key] === undefined) {
            container[key] = typeof path[i + 1] === "number" ? [] : {};
          }
          node = container[key];
        }
      }
    }
    return root;
  });
}

/**
 * The label of a choice: its `label`, else its id with its params (`general-family(alpha=10)`).
 *
 * @param choice The choice.
 * @returns A short name.
 */
export function choiceLabel(choice: ChoiceConfig): string {
  if (choice.label !== undefined) return choice.label;
  const params = choice.params;
  if (typeof params !== "object" || params === null || Object.keys(params).length === 0) {
    return choice.id;
  }
  const inner = Object.entries(params as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
    .join(",");
  return `${choice.id}(${inner})`;
}
