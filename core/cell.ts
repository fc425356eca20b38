/**
 * One cell of an experiment: build the backbone, probe it on the SFT set, fine-tune it with the
 * cell's objective (checkpointing as it goes), measure the likelihood after SFT, and evaluate it on
 * the domain's held-out sets. The same code runs cells for the local runner and for the cluster.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { choiceLabel } from "./config.ts";
import {
  CheckpointError,
  ConfigError,
  type DataError,
  isUserError,
  OutputError,
  PluginError,
  type UnknownId,
} from "./errors.ts";
import { evaluate, type Scorer } from "./evaluate.ts";
import type { PlannedCell } from "./plan.ts";
import type { DomainData, LanguageModel } from "./plugin.ts";
import { baseStatistics, probe, type ProbeResult } from "./probe.ts";
import type { RegistryShape } from "./registry.ts";
import { type EncodedPair, encodePairs, supervisedShare } from "./sft_batches.ts";
import {
  checkPlan,
  describePlan,
  footprintOf,
  type MemoryPlan,
  trainingPlan,
} from "./memory_plan.ts";
import { loadState, writeAtomic } from "./state_file.ts";
import { type StepMetrics, train, type TrainSettings } from "./train.ts";

/** A part as recorded in results: id, params and label. */
export interface PartRecord {
  /** The part id. */
  readonly id: string;
  /** Its decoded params. */
  readonly params: unknown;
  /** Its label in tables. */
  readonly label: string;
}

/** One finished cell, as written to `cells/<key>.json` and `results.json`. */
export interface CellResult {
  /** Unique key (label slug and content hash). */
  readonly key: string;
  /** Domain label. */
  readonly domain: string;
  /** The backbone (capability level). */
  readonly backbone: PartRecord;
  /** The objective; `{ id: "base" }` for the base model without SFT. */
  readonly objective: PartRecord;
  /** SFT seed. */
  readonly seed: number;
  /** Seed the base model was built with (initialisation and pretraining). */
  readonly baseSeed?: number;
  /** Whether the backbone's weights depend on that seed (absent: it does not say). */
  readonly baseSeeded?: boolean;
  /** The base model's probe on this cell's SFT set. */
  readonly probe: ProbeResult;
  /** Eq. 5 mean p of every supervised SFT target after SFT (the base's for the base row). */
  readonly meanPAfter: number;
  /** Scores per `"<set>/<decoding>"`. */
  readonly scores: Readonly<Record<string, number>>;
  /** Items per score key. */
  readonly items: Readonly<Record<string, number>>;
  /** The domain's headline key. */
  readonly primaryKey: string;
  /** The headline score. */
  readonly primary: number;
  /** Training summary (absent for the base row). */
  readonly training?: { readonly steps: number; readonly skippedSteps: number };
  /** Wall time of the cell in seconds (this process's part, if resumed). */
  readonly wallSeconds: number;
}

/**
 * The errors a cell can end with. An {@link OutputError} (the output folder cannot be written)
 * concerns the whole run, not the cell: runners stop on it.
 */
export type CellError =
  | ConfigError
  | UnknownId
  | PluginError
  | DataError
  | CheckpointError
  | OutputError;

/** What a cell runner needs. */
export interface CellContext {
  /** Output folder (checkpoints and metrics of running cells live in `cells/`). */
  readonly out: string;
  /** Cache folder for pretrained backbones. */
  readonly cacheDir: string;
  /** The registry (to resolve the benchmarks of a domain's sets). */
  readonly registry: RegistryShape;
  /** Progress lines and training steps. */
  readonly progress: {
    step(metrics: StepMetrics, total: number): void;
    log(line: string): void;
    /**
     * The cell's model is built (a pretrained backbone is in the cache from here on), with the
     * bytes of its training's memory plan (absent for a base-model row). Parallel runners start
     * the other cells of its group only after this.
     */
    built?(key: string, planBytes: number | undefined): void;
  };
}

/** Runs cells, sharing loaded domain data and base-model probes between them. */
export interface CellRunner {
  /** Runs (or resumes from its checkpoint) one cell. */
  run(cell: PlannedCell): Effect.Effect<CellResult, CellError>;
}

function outputFailure(error: unknown): OutputError {
  if (error instanceof OutputError) return error;
  throw error; // not a write failure: a defect
}

function appendText(path: string, text: string): void {
  try {
    Deno.writeTextFileSync(path, text, { append: true });
  } catch (error) {
    throw new OutputError({
      message: `Cannot write ${path}: ${String((error as Error)?.message ?? error).split("\n")[0]}`,
      file: path,
    });
  }
}

async function keepMetricsUpTo(path: string, step: number): Promise<void> {
  const text = await Deno.readTextFile(path).catch(() => "");
  const kept = text.split("\n").filter((line) => {
    if (line.trim() === "") return false;
    try {
      return (JSON.parse(line) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  await writeAtomic(path, kept.length ? kept.join("\n") + "\n" : "");
}

interface GroupData {
  readonly fixed: DomainData;
  readonly sftBySeed: Map<number, DomainData>;
}

/**
 * A cell runner with its caches.
 *
 * @param context Output folder, cache folder, registry and progress.
 * @returns The runner.
 */
export function makeCellRunner(context: CellContext): CellRunner {
  const groups = new Map<string, GroupData>();
  const probes = new Map<string, { result: ProbeResult; sorted: Float32Array }>();
  return { run: (cell) => runCell(cell, context, groups, probes) };
}

function loadDomainData(
  cell: PlannedCell,
  groups: Map<string, GroupData>,
): Effect.Effect<{ fixed: DomainData; sft: DomainData }, DataError> {
  return Effect.gen(function* () {
    const groupKey = JSON.stringify([cell.domain.id, cell.domainPart.params]);
    let group = groups.get(groupKey);
    if (group === undefined) {
      // The prior corpus and the held-out sets are the seed-0 ones for every seed; the SFT set
      // (its sample and noise) follows the cell's seed.
      const fixed = yield* cell.domainPart.part.load(cell.domainPart.params, 0);
      group = { fixed, sftBySeed: new Map([[0, fixed]]) };
      groups.set(groupKey, group);
    }
    let sft = group.sftBySeed.get(cell.seed);
    if (sft === undefined) {
      sft = yield* cell.domainPart.part.load(cell.domainPart.params, cell.seed);
      group.sftBySeed.set(cell.seed, sft);
    }
    return { fixed: group.fixed, sft };
  });
}

function resolveScorers(
  registry: RegistryShape,
  data: DomainData,
  where: string,
): Effect.Effect<Map<string, Scorer>, ConfigError | UnknownId> {
  return Effect.gen(function* () {
    const scorers = new Map<string, Scorer>();
    for (const set of data.benchmarks) {
      const resolved = yield* registry.benchmark(set.benchmark, `${where}: set ${set.name}`);
      scorers.set(set.name, { benchmark: resolved.part, params: resolved.params });
    }
    return scorers;
  });
}

function buildModel(
  cell: PlannedCell,
  context: CellContext,
  data: DomainData,
): Effect.Effect<LanguageModel, PluginError | CheckpointError | DataError> {
  return cell.backbonePart.part.make(cell.backbonePart.params, {
    seed: cell.baseSeed,
    domain: data,
    cacheDir: context.cacheDir,
    log: (line) => context.progress.log(line),
  });
}

function runCell(
  cell: PlannedCell,
  context: CellContext,
  groups: Map<string, GroupData>,
  probes: Map<string, { result: ProbeResult; sorted: Float32Array }>,
): Effect.Effect<CellResult, CellError> {
  const started = performance.now();
  return Effect.gen(function* () {
    const { fixed, sft } = yield* loadDomainData(cell, groups);
    const scorers = yield* resolveScorers(context.registry, fixed, `domain "${cell.domain.id}"`);
    return yield* Effect.acquireUseRelease(
      buildModel(cell, context, fixed),
      (model) =>
        Effect.gen(function* () {
          const pairs = yield* Effect.try({
            try: () =>
              encodePairs(
                sft.sft,
                model.tokenizer,
                model.contextLength,
                `domain "${cell.domain.id}"`,
              ),
            catch: (error) =>
              isUserError(error)
                ? error as DataError
                : new ConfigError({ message: String(error), where: cell.domain.id }),
          });
          if (cell.objective && sft.sft.some((e) => e.messages !== undefined || e.prompt === "")) {
            context.progress.log(
              `${cell.key}: ${(100 * supervisedShare(pairs)).toFixed(1)}% of ${
                pairs.reduce((n, p) => n + p.ids.length - 1, 0)
              } target tokens are supervised (completion-only loss)`,
            );
          }
          if (cell.objective) {
            const plan = planOf(cell, model, pairs);
            yield* Effect.try({
              try: () => checkPlan(plan, `cell ${cell.key}`),
              catch: (error) => error as ConfigError,
            });
            if (plan.total > 1024 ** 3) {
              context.progress.log(`${cell.key}: memory plan ${describePlan(plan)}`);
            }
            context.progress.built?.(cell.key, plan.total);
          } else {
            context.progress.built?.(cell.key, undefined);
          }
          // The probe and evaluation hold no more rows at once than a training micro-batch.
          const micro = cell.train.microBatchSize ?? Infinity;
          // Every SFT pair, or the configured random sample (the same one before and after SFT).
          const probeOptions = {
            batchSize: Math.min(64, micro),
            ...(cell.probe.samplePairs !== undefined
              ? { samplePairs: cell.probe.samplePairs, seed: cell.seed }
              : {}),
          };
          const probeKey = `${cell.group}#${cell.seed}`;
          let probed = probes.get(probeKey);
          if (probed === undefined) {
            probed = probe(model, pairs, probeOptions);
            probes.set(probeKey, probed);
          }
          const before = probed;
          let training: CellResult["training"];
          let meanPAfter = before.result.allTargets.meanP;
          if (cell.objective && cell.objectivePart) {
            training = yield* trainCell(cell, context, model, pairs, before.sorted);
            meanPAfter = probe(model, pairs, probeOptions).result.allTargets.meanP;
            if (cell.saveModel) {
              const dir = `${context.out}/models/${cell.key}`;
              yield* Effect.tryPromise({ try: () => model.save(dir), catch: outputFailure });
              context.progress.log(`${cell.key}: fine-tuned model saved to ${dir}`);
            }
          }
          // Every scored completion, for re-grading (`deno task score`) and audits.
          const samples: string[] = [];
          const scores = yield* evaluate(model, fixed.benchmarks, scorers, {
            batchSize: Math.min(cell.evaluation.batchSize ?? 64, micro),
            ...(cell.evaluation.maxItems !== undefined
              ? { maxItems: cell.evaluation.maxItems }
              : {}),
            ...(cell.evaluation.samples !== undefined ? { samples: cell.evaluation.samples } : {}),
            seed: cell.seed,
            onSample: (sample) => samples.push(JSON.stringify(sample) + "\n"),
          });
          yield* Effect.tryPromise({
            try: () =>
              writeAtomic(`${context.out}/cells/${cell.key}.samples.jsonl`, samples.join("")),
            catch: outputFailure,
          });
          const result: CellResult = {
            key: cell.key,
            domain: choiceLabel(cell.domain),
            backbone: {
              id: cell.backbone.id,
              params: cell.backbonePart.params,
              label: choiceLabel(cell.backbone),
            },
            objective: cell.objective
              ? {
                id: cell.objective.id,
                params: cell.objectivePart!.params,
                label: choiceLabel(cell.objective),
              }
              : { id: "base", params: {}, label: "base" },
            seed: cell.seed,
            baseSeed: cell.baseSeed,
            ...(cell.backbonePart.part.seeded !== undefined
              ? { baseSeeded: cell.backbonePart.part.seeded }
              : {}),
            probe: before.result,
            meanPAfter,
            scores: scores.scores,
            items: scores.items,
            primaryKey: fixed.primary,
            primary: scores.scores[fixed.primary] ?? NaN,
            ...(training ? { training } : {}),
            wallSeconds: (performance.now() - started) / 1000,
          };
          return result;
        }),
      (model) => Effect.sync(() => model.dispose()),
    );
  });
}

/** The memory plan of a cell's training on its encoded SFT set (core/memory_plan.ts). */
function planOf(
  cell: PlannedCell,
  model: LanguageModel,
  pairs: ReadonlyArray<EncodedPair>,
): MemoryPlan {
  const time = Math.max(1, ...pairs.map((p) => p.ids.length - 1));
  return trainingPlan(footprintOf(model), cell.train, time, tf.getBackend());
}

function checkpointFailure(error: unknown): CheckpointError {
  if (error instanceof CheckpointError) return error;
  throw error;
}

function trainCell(
  cell: PlannedCell,
  context: CellContext,
  model: LanguageModel,
  pairs: ReadonlyArray<EncodedPair>,
  sorted: Float32Array,
): Effect.Effect<{ steps: number; skippedSteps: number }, CellError> {
  return Effect.gen(function* () {
    const objective = cell.objectivePart!.part;
    const params = objective.resolve
      ? objective.resolve(cell.objectivePart!.params, baseStatistics(sorted))
      : cell.objectivePart!.params;
    const steps = cell.train.steps > 0
      ? cell.train.steps
      : Math.max(1, Math.floor(pairs.length / cell.train.batchSize));
    const settings: TrainSettings = { ...cell.train, steps };
    const checkpointPath = `${context.out}/cells/${cell.key}.checkpoint`;
    const metricsPath = `${context.out}/cells/${cell.key}.metrics.jsonl`;
    const hasCheckpoint = yield* Effect.promise(() =>
      Deno.stat(checkpointPath).then(() => true, () => false)
    );
    let resumeStep: number | undefined;
    if (hasCheckpoint) {
      // A checkpoint that fails its size or checksum check is never resumed from: the cell
      // starts over from step 0 (the same numbers, only later).
      const loaded = yield* Effect.result(
        Effect.tryPromise({ try: () => loadState(checkpointPath), catch: checkpointFailure }),
      );
      if (loaded._tag === "Success") {
        for (const t of loaded.success.tensors.values()) t.dispose();
        resumeStep = Number(loaded.success.metadata.step);
      } else {
        context.progress.log(`${loaded.failure.message}; cell ${cell.key} starts over`);
        yield* Effect.promise(() => Deno.remove(checkpointPath).catch(() => undefined));
      }
    }
    if (resumeStep !== undefined) {
      const step = resumeStep;
      yield* Effect.tryPromise({
        try: () => keepMetricsUpTo(metricsPath, step),
        catch: outputFailure,
      });
    } else {
      yield* Effect.tryPromise({ try: () => writeAtomic(metricsPath, ""), catch: outputFailure });
    }
    const reference = objective.needs?.referenceLogits
      ? yield* Effect.try({
        try: () => model.snapshot(),
        catch: (error) =>
          new PluginError({
            message:
              `Backbone "${cell.backbone.id}" (plugin "${cell.backbonePart.plugin}") cannot give the reference logits that objective "${objective.id}" needs: ${
                String((error as Error)?.message ?? error).split("\n")[0]
              }`,
            plugin: cell.backbonePart.plugin,
          }),
      })
      : undefined;
    const lines: string[] = [];
    const flush = () => {
      if (lines.length === 0) return;
      const text = lines.join("");
      lines.length = 0;
      appendText(metricsPath, text);
    };
    const summary = yield* train({
      model,
      objective,
      params,
      pairs,
      seed: cell.seed,
      settings,
      ...(reference ? { reference } : {}),
      checkpointPath,
      onStep: (metrics) => {
        lines.push(JSON.stringify({ cell: cell.key, ...metrics }) + "\n");
        context.progress.step(metrics, steps);
        if (metrics.step % settings.checkpointEvery === 0 || metrics.step === steps) {
          // Metrics reach the file no later than the checkpoint that covers them.
          flush();
        }
      },
    }).pipe(
      Effect.mapError((error) =>
        error._tag === "PluginError" && !error.message.includes("(plugin ")
          ? new PluginError({
            message: `${error.message} (plugin "${cell.objectivePart!.plugin}")`,
            plugin: cell.objectivePart!.plugin,
          })
          : error
      ),
      Effect.ensuring(Effect.sync(() => reference?.dispose())),
    );
    yield* Effect.try({ try: flush, catch: outputFailure });
    return { steps: summary.steps, skippedSteps: summary.skippedSteps };
  });
}
