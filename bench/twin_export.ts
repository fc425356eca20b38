/**
 * The export of an experiment for its PyTorch twin (`bench/torch_experiment.py`): everything the
 * twin needs to train and evaluate the same cells on the same examples, computed by the code the
 * experiment itself runs (the domain's generator, the backbone's tokenizer and config, the
 * pretraining documents and batch order, `encodePairs`, `batchPairs`, the cosine schedule,
 * `encodeQuery`), so the twin re-implements no data generation. Only the model's initial weights
 * and the sampling draws are the twin's own (same scheme, torch's random numbers).
 *
 * The folder (format `probsft-twin/1`), every file JSON:
 *
 * - `manifest.json`: `{ format, name, source, cells: [TwinCell…] }`, cells in the experiment's
 *   plan order. A {@link TwinCell} names its base, SFT and evaluation files and carries its
 *   recipe: per-step learning rates, the data order, the objective.
 * - `base-<hash>.json`: a base model, {@link TwinBase}: the transformer config, the pretraining
 *   recipe (per-step learning rates, AdamW settings, clip), the document indices of every step,
 *   and the corpus file.
 * - `corpus-<hash>.json`: `{ documents: number[][] }`, token ids per prior-corpus document
 *   (`<bos> … <eos>`, cut to `seqLen + 1`).
 * - `sft-<hash>.json`: `{ pairs: [{ ids, mask }…] }`, the tokenized SFT set of one domain and
 *   seed; `mask[t]` is 1 where token t is a supervised target (completion-only loss), so a batch
 *   row is inputs `ids[:-1]`, targets `ids[1:]`, mask `mask[1:]`, right-padded with `padId`.
 * - `eval-<hash>.json`: `{ sets: [{ name, prompts, decodings }…] }`, the held-out prompts as
 *   token ids (`encodeQuery`) with each decoding's temperature, effective sample count and
 *   effective new-token cap. Stop strings are applied by the grader
 *   ({@link gradeTwin}), which decodes the twin's token ids with probsft's tokenizer.
 *
 * The twin writes `cells/<key>.json`: `{ key, completions: { "<set>/<decoding>": ids[][] } }`
 * (samples × items rows, sample-major), graded here with probsft's own scorers.
 *
 * @module
 */
import { Effect } from "effect";
import { choiceLabel, type ExperimentConfig } from "../core/config.ts";
import { ConfigError, type DataError, OutputError, type UnknownId } from "../core/errors.ts";
import { sha256Hex } from "../core/hash.ts";
import { cosineLearningRate } from "../core/optimizer.ts";
import { planCells, type PlannedCell } from "../core/plan.ts";
import type { DomainData } from "../core/plugin.ts";
import type { RegistryShape } from "../core/registry.ts";
import { encodePairs, encodeQuery } from "../core/sft_batches.ts";
import { batchPairs } from "../core/train.ts";
import { type PretrainedParams, pretrainOptionsOf } from "../backbones/parts.ts";
import {
  pretrainConfig,
  pretrainDocuments,
  pretrainLearningRate,
  pretrainRows,
} from "../backbones/pretrain.ts";
import { SymbolTokenizer } from "../backbones/tokenizer.ts";
import { tinyConfig, type TransformerConfig } from "../backbones/transformer.ts";

/** The export format's name. */
export const twinFormat = "probsft-twin/1";

/** A base model: a config and its pretraining (0 steps: the seeded random init). */
export interface TwinBase {
  /** The transformer config (probsft's names). */
  readonly config: TransformerConfig;
  /** Seed of the twin's initialisation (torch's generator, not probsft's numbers). */
  readonly seed: number;
  /** Pretraining steps. */
  readonly steps: number;
  /** The corpus file (absent for 0 steps). */
  readonly corpus?: string;
  /** Per step, the document indices of its batch. */
  readonly rows: ReadonlyArray<ReadonlyArray<number>>;
  /** Per step, the learning rate. */
  readonly learningRates: ReadonlyArray<number>;
  /** AdamW and clipping (pretraining uses probsft's AdamW defaults). */
  readonly optimizer: TwinOptimizer;
  /** The padding id. */
  readonly padId: number;
}

/** AdamW settings with clipping. */
export interface TwinOptimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
}

/** One cell of the export. */
export interface TwinCell {
  /** The experiment's cell key. */
  readonly key: string;
  /** `"<domain label> / <backbone label>"`. */
  readonly group: string;
  /** The objective's label, or `base` for the base-model row. */
  readonly objective: string;
  /** The objective's id and decoded params (absent for the base row). */
  readonly objectiveId?: string;
  readonly objectiveParams?: unknown;
  /** SFT seed. */
  readonly seed: number;
  /** The base model's file. */
  readonly base: string;
  /** The SFT set's file (absent for the base row). */
  readonly sft?: string;
  /** Per SFT step, the indices of its rows in the SFT file (`batchPairs`). */
  readonly order?: ReadonlyArray<ReadonlyArray<number>>;
  /** Per SFT step, the learning rate. */
  readonly learningRates?: ReadonlyArray<number>;
  /** AdamW and clipping of the SFT run. */
  readonly optimizer?: TwinOptimizer;
  /** Sequences per micro-batch (absent: the whole batch). */
  readonly microBatchSize?: number;
  /** How micro-batch losses combine. */
  readonly lossAggregation?: "micro-batch-mean" | "token-mean";
  /** The evaluation file. */
  readonly eval: string;
  /** Prompts decoded together. */
  readonly evalBatchSize: number;
  /** Ids that end a generated row. */
  readonly eosIds: ReadonlyArray<number>;
  /** The padding id. */
  readonly padId: number;
}

/** The objectives the twin implements. */
export const twinObjectives: ReadonlyArray<string> = [
  "neg-log-prob",
  "neg-prob",
  "general-family",
  "thresholded-neg-log-prob",
  "thresholded-neg-prob",
];

/** What {@link exportTwin} wrote. */
export interface TwinExportSummary {
  /** The folder. */
  readonly dir: string;
  /** Cells exported. */
  readonly cells: number;
  /** Files written. */
  readonly files: number;
  /** Bytes written. */
  readonly bytes: number;
}

/** Loads a cell's domain data the way the experiment does: seed 0 for the fixed parts. */
export function loadCellData(
  cell: PlannedCell,
  cache: Map<string, DomainData>,
): Effect.Effect<{ fixed: DomainData; sft: DomainData }, DataError> {
  return Effect.gen(function* () {
    const get = (seed: number) =>
      Effect.gen(function* () {
        const key = JSON.stringify([cell.domain.id, cell.domainPart.params, seed]);
        const hit = cache.get(key);
        if (hit) return hit;
        const data = yield* cell.domainPart.part.load(cell.domainPart.params, seed);
        cache.set(key, data);
        return data;
      });
    return { fixed: yield* get(0), sft: yield* get(cell.seed) };
  });
}

/**
 * The tokenizer and config of a cell's backbone, as the `pretrained` and `transformer` backbones
 * build them; a ConfigError for a backbone or family the twin does not implement.
 *
 * @param cell The planned cell.
 * @param data The domain's fixed data (its symbols).
 * @returns The tokenizer, the config and the pretraining options.
 */
export function twinBackbone(
  cell: PlannedCell,
  data: DomainData,
): Effect.Effect<
  {
    tokenizer: SymbolTokenizer;
    config: TransformerConfig;
    options: ReturnType<typeof pretrainOptionsOf>;
  },
  ConfigError
> {
  return Effect.gen(function* () {
    const id = cell.backbone.id;
    const where = `the PyTorch twin (cell ${cell.key})`;
    if (id !== "pretrained" && id !== "transformer") {
      return yield* new ConfigError({
        message:
          `The PyTorch twin runs the "pretrained" and "transformer" backbones only, got "${id}" (${where})`,
        where,
      });
    }
    const params = cell.backbonePart.params as PretrainedParams;
    if (params.family !== "gpt2") {
      return yield* new ConfigError({
        message:
          `The PyTorch twin implements the gpt2 family only, got "${params.family}" (${where})`,
        where,
      });
    }
    if (!data.symbols || data.symbols.length === 0) {
      return yield* new ConfigError({
        message: `The PyTorch twin needs a domain with symbols; "${cell.domain.id}" has none`,
        where,
      });
    }
    const tokenizer = new SymbolTokenizer(data.symbols);
    const options = id === "pretrained"
      ? pretrainOptionsOf(params, cell.baseSeed)
      : { ...pretrainOptionsOf(params, cell.baseSeed), steps: 0 };
    const config = id === "pretrained"
      ? pretrainConfig(tokenizer.vocabSize, options)
      : tinyConfig(params.family, tokenizer.vocabSize, options.overrides);
    return { tokenizer, config, options };
  });
}

async function hashOf(value: unknown): Promise<string> {
  return (await sha256Hex(JSON.stringify(value))).slice(0, 16);
}

/**
 * Writes the twin's export of an experiment (see the module documentation).
 *
 * @param config The decoded experiment (preset and overrides).
 * @param source Where it came from.
 * @param registry The registry that resolves its parts.
 * @param dir The folder to write (created).
 * @returns What was written.
 */
export function exportTwin(
  config: ExperimentConfig,
  source: string,
  registry: RegistryShape,
  dir: string,
): Effect.Effect<TwinExportSummary, ConfigError | UnknownId | DataError | OutputError> {
  return Effect.gen(function* () {
    const cells = yield* planCells(config, source, registry);
    const files = new Map<string, string>();
    const put = (prefix: string, hash: string, make: () => unknown): string => {
      const name = `${prefix}-${hash}.json`;
      if (!files.has(name)) files.set(name, JSON.stringify(make()));
      return name;
    };
    const data = new Map<string, DomainData>();
    const out: TwinCell[] = [];
    for (const cell of cells) {
      const { fixed, sft } = yield* loadCellData(cell, data);
      const { tokenizer, config: model, options } = yield* twinBackbone(cell, fixed);
      const corpusKey = yield* Effect.promise(() =>
        hashOf([cell.domain.id, cell.domainPart.params, options.seqLen])
      );
      const corpus = options.steps > 0
        ? put("corpus", corpusKey, () => ({
          documents: pretrainDocuments(fixed.priorCorpus, tokenizer, options.seqLen),
        }))
        : undefined;
      if (options.steps > 0 && fixed.priorCorpus.length === 0) {
        return yield* new ConfigError({
          message: `Cannot export cell ${cell.key}: the domain's prior corpus is empty`,
          where: source,
        });
      }
      const baseHash = yield* Effect.promise(() => hashOf([model, options, corpusKey]));
      const base = put("base", baseHash, (): TwinBase => ({
        config: model,
        seed: cell.baseSeed,
        steps: options.steps,
        ...(corpus ? { corpus } : {}),
        rows: [...pretrainRows(fixed.priorCorpus.length, options)],
        learningRates: Array.from(
          { length: options.steps },
          (_, step) => pretrainLearningRate(step, options),
        ),
        // trainNextToken's AdamW: the optimizer's defaults with weight decay 0.01.
        optimizer: { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.01, clipNorm: 1 },
        padId: tokenizer.padId,
      }));
      const evalHash = yield* Effect.promise(() =>
        hashOf([cell.domain.id, cell.domainPart.params, model.contextLength, cell.evaluation])
      );
      const evaluation = put("eval", evalHash, () => ({
        sets: fixed.benchmarks.map((set) => {
          const examples = set.examples.slice(0, cell.evaluation.maxItems ?? set.examples.length);
          const prompts = examples.map((e) => encodeQuery(tokenizer, e.prompt, e.messages));
          const room = model.contextLength - Math.max(0, ...prompts.map((p) => p.length));
          return {
            name: set.name,
            prompts,
            decodings: set.decodings.map((d) => ({
              name: d.name,
              temperature: d.temperature,
              topP: d.topP ?? 1,
              samples: d.temperature > 0 ? (cell.evaluation.samples ?? d.samples) : 1,
              maxNewTokens: Math.max(0, Math.min(d.maxNewTokens, room)),
            })),
          };
        }),
      }));
      const micro = cell.train.microBatchSize ?? Infinity;
      const common = {
        key: cell.key,
        group: cell.group,
        seed: cell.seed,
        base,
        eval: evaluation,
        evalBatchSize: Math.min(cell.evaluation.batchSize ?? 64, micro),
        eosIds: [tokenizer.eosId],
        padId: tokenizer.padId,
      };
      if (!cell.objective || !cell.objectivePart) {
        out.push({ ...common, objective: "base" });
        continue;
      }
      const objectiveId = cell.objective.id;
      const objectiveParams = cell.objectivePart.params as Record<string, unknown>;
      if (!twinObjectives.includes(objectiveId)) {
        return yield* new ConfigError({
          message: `The PyTorch twin implements the objectives ${
            twinObjectives.join(", ")
          }, not "${objectiveId}" (cell ${cell.key})`,
          where: source,
        });
      }
      if (objectiveParams?.tau !== undefined && typeof objectiveParams.tau !== "number") {
        return yield* new ConfigError({
          message:
            `The PyTorch twin needs a numeric tau; a percentile threshold is resolved from the base model during the run (cell ${cell.key})`,
          where: source,
        });
      }
      const pairs = yield* Effect.try({
        try: () =>
          encodePairs(sft.sft, tokenizer, model.contextLength, `domain "${cell.domain.id}"`),
        catch: (error) => error as DataError,
      });
      const sftHash = yield* Effect.promise(() =>
        hashOf([cell.domain.id, cell.domainPart.params, cell.seed, model.contextLength])
      );
      const sftFile = put("sft", sftHash, () => ({
        pairs: pairs.map((p) => ({ ids: p.ids, mask: [...p.supervised] })),
      }));
      const train = cell.train;
      const steps = train.steps > 0
        ? train.steps
        : Math.max(1, Math.floor(pairs.length / train.batchSize));
      const indices = pairs.map((_, i) => i);
      out.push({
        ...common,
        objective: choiceLabel(cell.objective),
        objectiveId,
        objectiveParams,
        sft: sftFile,
        order: Array.from(
          { length: steps },
          (_, step) => batchPairs(indices, train.batchSize, cell.seed, step),
        ),
        learningRates: Array.from({ length: steps }, (_, step) =>
          cosineLearningRate(step, {
            peak: train.learningRate,
            totalSteps: steps,
            warmupRatio: train.warmupRatio,
          })),
        optimizer: {
          beta1: train.beta1,
          beta2: train.beta2,
          epsilon: 1e-8,
          weightDecay: train.weightDecay,
          clipNorm: train.clipNorm,
        },
        ...(train.microBatchSize !== undefined ? { microBatchSize: train.microBatchSize } : {}),
        lossAggregation: train.lossAggregation ?? "micro-batch-mean",
      });
    }
    files.set(
      "manifest.json",
      JSON.stringify({ format: twinFormat, name: config.name ?? null, source, cells: out }),
    );
    let bytes = 0;
    yield* Effect.tryPromise({
      try: async () => {
        await Deno.mkdir(dir, { recursive: true });
        for (const [name, text] of files) {
          await Deno.writeTextFile(`${dir}/${name}`, text);
          bytes += text.length;
        }
      },
      catch: (error) =>
        new OutputError({
          message: `Cannot write the twin's export to ${dir}: ${(error as Error).message}`,
          file: dir,
        }),
    });
    return { dir, cells: out.length, files: files.size, bytes };
  });
}
