/**
 * The experiment runner: plans the grid (domains × backbones × objectives × seeds, plus each base
 * model), runs each cell (build the backbone, probe it, fine-tune, evaluate), and writes every
 * finished cell atomically as it completes. Rerunning the same command with the same `--out`
 * continues from the finished cells and from the running cell's last checkpoint; a lock keeps two
 * runs out of one folder. A failing cell is reported with its error and the others go on.
 *
 * @module
 */
import { Effect } from "effect";
import {
  type CheckpointError,
  ConfigError,
  type DataError,
  isUserError,
  type PluginError,
  type UnknownId,
} from "./errors.ts";
import type { ChoiceConfig, DomainConfig, EvaluationConfig, ExperimentConfig } from "./config.ts";
import { choiceLabel } from "./config.ts";
import { evaluate, type Scorer } from "./evaluate.ts";
import type { Backbone, Domain, DomainData, LanguageModel, Objective } from "./plugin.ts";
import { baseStatistics, probe, type ProbeResult } from "./probe.ts";
import type { RegistryShape, Resolved } from "./registry.ts";
import { type EncodedPair, encodePairs } from "./sft_batches.ts";
import { loadState, writeAtomic } from "./state_file.ts";
import { paperRecipe, type StepMetrics, train, type TrainSettings } from "./train.ts";

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
  /** The base model's probe on this cell's SFT set. */
  readonly probe: ProbeResult;
  /** Eq. 5 mean p on the SFT set after SFT (the base's for the base row). */
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

/** A cell that failed, with the error a user reads. */
export interface CellFailure {
  /** The cell key. */
  readonly key: string;
  /** What failed. */
  readonly message: string;
}

/** The whole run. */
export interface ExperimentResults {
  /** Preset name. */
  readonly name: string;
  /** Finished cells. */
  readonly cells: ReadonlyArray<CellResult>;
  /** Cells that failed in this run. */
  readonly failures: ReadonlyArray<CellFailure>;
}

/** What the runner reports as it goes. */
export interface Progress {
  /** A cell starts (1-based index of `total`). */
  cell(index: number, total: number, label: string, remainingSeconds: number | undefined): void;
  /** A training step finished. */
  step(metrics: StepMetrics, total: number): void;
  /** A line of news. */
  log(line: string): void;
}

/** Everything a run needs. */
export interface RunOptions {
  /** The decoded experiment. */
  readonly config: ExperimentConfig;
  /** Where the config came from (for messages). */
  readonly source: string;
  /** Output folder. */
  readonly out: string;
  /** Cache folder for pretrained backbones. */
  readonly cacheDir: string;
  /** The registry. */
  readonly registry: RegistryShape;
  /** Progress reporting. */
  readonly progress: Progress;
  /** Called after each cell with all finished cells (for reports). */
  onCell?(results: ExperimentResults): Promise<void>;
}

type RunError = ConfigError | UnknownId | PluginError | DataError | CheckpointError;

interface PlannedCell {
  readonly key: string;
  readonly group: string;
  readonly domainIndex: number;
  readonly domain: DomainConfig;
  readonly domainPart: Resolved<Domain<unknown>>;
  readonly backbone: ChoiceConfig;
  readonly backbonePart: Resolved<Backbone<unknown>>;
  readonly objective: ChoiceConfig | undefined;
  readonly objectivePart: Resolved<Objective<unknown>> | undefined;
  readonly seed: number;
  readonly train: TrainSettings;
  readonly evaluation: EvaluationConfig;
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9.=-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 60);
}

/** Probe at most this many SFT pairs (before and after SFT), to bound its cost. */
const probeItems = 1024;

function plan(
  config: ExperimentConfig,
  source: string,
  registry: RegistryShape,
): Effect.Effect<PlannedCell[], ConfigError | UnknownId> {
  return Effect.gen(function* () {
    const cells: PlannedCell[] = [];
    for (const [d, domain] of config.domains.entries()) {
      const domainPart = yield* registry.domain(domain, `${source}: domains[${d}]`);
      const backbones = domain.backbones ?? config.backbones ?? [];
      if (backbones.length === 0) {
        return yield* new ConfigError({
          message:
            `No backbones for domain "${domain.id}" (${source}: domains[${d}]): give "backbones" at the top level or in the domain`,
          where: source,
        });
      }
      const objectives = domain.objectives ?? config.objectives;
      const trainSettings: TrainSettings = {
        ...paperRecipe,
        ...config.train,
        ...domain.train,
        steps: domain.train?.steps ?? config.train?.steps ?? 0,
      };
      const evaluation = { ...config.evaluation, ...domain.evaluation };
      for (const [b, backbone] of backbones.entries()) {
        const where = domain.backbones
          ? `${source}: domains[${d}].backbones[${b}]`
          : `${source}: backbones[${b}]`;
        const backbonePart = yield* registry.backbone(backbone, where);
        const resolvedObjectives: Array<[ChoiceConfig, Resolved<Objective<unknown>>]> = [];
        for (const [o, objective] of objectives.entries()) {
          const at = domain.objectives
            ? `${source}: domains[${d}].objectives[${o}]`
            : `${source}: objectives[${o}]`;
          resolvedObjectives.push([objective, yield* registry.objective(objective, at)]);
        }
        const group = `${choiceLabel(domain)} / ${choiceLabel(backbone)}`;
        const rows: Array<
          [ChoiceConfig | undefined, Resolved<Objective<unknown>> | undefined, number]
        > = [];
        if (config.baseline !== false) rows.push([undefined, undefined, config.seeds[0]!]);
        for (const seed of config.seeds) {
          for (const [objective, part] of resolvedObjectives) rows.push([objective, part, seed]);
        }
        for (const [objective, objectivePart, seed] of rows) {
          const identity = JSON.stringify({
            domain: [domain.id, domainPart.params],
            backbone: [backbone.id, backbonePart.params],
            objective: objective ? [objective.id, objectivePart!.params] : "base",
            seed,
            train: objective ? trainSettings : null,
            evaluation,
          });
          const hash = (yield* Effect.promise(() => sha256(identity))).slice(0, 10);
          const label = `${choiceLabel(domain)}_${choiceLabel(backbone)}_${
            objective ? choiceLabel(objective) : "base"
          }_s${seed}`;
          cells.push({
            key: `${slug(label)}-${hash}`,
            group,
            domainIndex: d,
            domain,
            domainPart,
            backbone,
            backbonePart,
            objective,
            objectivePart,
            seed,
            train: trainSettings,
            evaluation,
          });
        }
      }
    }
    return cells;
  });
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return Deno.build.os !== "linux";
  }
}

function acquireLock(out: string): Effect.Effect<string, ConfigError> {
  const path = `${out}/.lock`;
  return Effect.gen(function* () {
    for (let attempt = 0; attempt < 2; attempt++) {
      const created = yield* Effect.promise(async () => {
        try {
          await Deno.writeTextFile(path, String(Deno.pid), { createNew: true });
          return true;
        } catch {
          return false;
        }
      });
      if (created) return path;
      const holder = Number(
        yield* Effect.promise(() => Deno.readTextFile(path).catch(() => "0")),
      );
      if (holder > 0 && holder !== Deno.pid && processAlive(holder)) {
        return yield* new ConfigError({
          message:
            `Another run (process ${holder}) is writing into ${out}; wait for it to finish or choose another --out`,
          where: out,
        });
      }
      yield* Effect.promise(() => Deno.remove(path).catch(() => undefined));
    }
    return yield* new ConfigError({ message: `Cannot lock ${out}`, where: out });
  });
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
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
 * Runs (or resumes) an experiment.
 *
 * @param options Config, output folder, registry and progress.
 * @returns All finished cells and this run's failures.
 */
export function runExperiment(
  options: RunOptions,
): Effect.Effect<ExperimentResults, RunError> {
  const { out } = options;
  return Effect.acquireUseRelease(
    Effect.flatMap(
      Effect.promise(() => Deno.mkdir(`${out}/cells`, { recursive: true })),
      () => acquireLock(out),
    ),
    () => runLocked(options),
    (lock) => Effect.promise(() => Deno.remove(lock).catch(() => undefined)),
  );
}

function runLocked(options: RunOptions): Effect.Effect<ExperimentResults, RunError> {
  const { config, out, registry, progress } = options;
  return Effect.gen(function* () {
    const resolvedPath = `${out}/config.json`;
    const resolved = JSON.stringify(config, null, 2) + "\n";
    const previous = yield* Effect.promise(() => Deno.readTextFile(resolvedPath).catch(() => ""));
    if (previous !== "" && previous !== resolved) {
      return yield* new ConfigError({
        message:
          `${out} holds a different experiment (its config.json differs); choose another --out to start a new run`,
        where: resolvedPath,
      });
    }
    yield* Effect.promise(() => writeAtomic(resolvedPath, resolved));
    const cells = yield* plan(config, options.source, registry);
    const finished = new Map<string, CellResult>();
    for (const cell of cells) {
      const done = yield* Effect.promise(() =>
        readJson<CellResult>(`${out}/cells/${cell.key}.json`)
      );
      if (done) finished.set(cell.key, done);
    }
    const failures: CellFailure[] = [];
    const results = (): ExperimentResults => ({
      name: config.name ?? "experiment",
      cells: cells.flatMap((c) => finished.get(c.key) ?? []),
      failures,
    });
    const groups = new Map<string, GroupData>();
    const probes = new Map<string, { result: ProbeResult; sorted: Float32Array }>();
    const started = performance.now();
    let ran = 0;
    const todo = cells.filter((c) => !finished.has(c.key));
    if (finished.size > 0) {
      progress.log(`resuming: ${finished.size} of ${cells.length} cells already finished`);
    }
    for (const [i, cell] of todo.entries()) {
      const elapsed = (performance.now() - started) / 1000;
      const eta = ran > 0 ? (elapsed / ran) * (todo.length - i) : undefined;
      progress.cell(finished.size + 1, cells.length, cell.key, eta);
      const outcome = yield* Effect.result(runCell(cell, options, groups, probes));
      ran += 1;
      if (outcome._tag === "Success") {
        finished.set(cell.key, outcome.success);
        yield* Effect.promise(() =>
          writeAtomic(`${out}/cells/${cell.key}.json`, JSON.stringify(outcome.success, null, 2))
        );
        yield* Effect.promise(() =>
          Deno.remove(`${out}/cells/${cell.key}.checkpoint`).catch(() => undefined)
        );
      } else {
        const error = outcome.failure;
        failures.push({ key: cell.key, message: error.message });
        progress.log(`cell ${cell.key} failed: ${error.message}`);
      }
      if (options.onCell) yield* Effect.promise(() => options.onCell!(results()));
    }
    return results();
  });
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
  options: RunOptions,
  data: DomainData,
): Effect.Effect<LanguageModel, PluginError | CheckpointError | DataError> {
  return cell.backbonePart.part.make(cell.backbonePart.params, {
    seed: 0,
    domain: data,
    cacheDir: options.cacheDir,
    log: (line) => options.progress.log(line),
  });
}

function runCell(
  cell: PlannedCell,
  options: RunOptions,
  groups: Map<string, GroupData>,
  probes: Map<string, { result: ProbeResult; sorted: Float32Array }>,
): Effect.Effect<CellResult, RunError> {
  const started = performance.now();
  return Effect.gen(function* () {
    const { fixed, sft } = yield* loadDomainData(cell, groups);
    const scorers = yield* resolveScorers(options.registry, fixed, `domain "${cell.domain.id}"`);
    return yield* Effect.acquireUseRelease(
      buildModel(cell, options, fixed),
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
          const probeKey = `${cell.group}#${cell.seed}`;
          let probed = probes.get(probeKey);
          if (probed === undefined) {
            probed = probe(model, pairs.slice(0, probeItems));
            probes.set(probeKey, probed);
          }
          const before = probed;
          let training: CellResult["training"];
          let meanPAfter = before.result.meanP;
          if (cell.objective && cell.objectivePart) {
            training = yield* trainCell(cell, options, model, pairs, before.sorted);
            meanPAfter = probe(model, pairs.slice(0, probeItems)).result.meanP;
          }
          const scores = yield* evaluate(model, fixed.benchmarks, scorers, {
            batchSize: cell.evaluation.batchSize ?? 64,
            ...(cell.evaluation.maxItems !== undefined
              ? { maxItems: cell.evaluation.maxItems }
              : {}),
            ...(cell.evaluation.samples !== undefined ? { samples: cell.evaluation.samples } : {}),
            seed: cell.seed,
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

function trainCell(
  cell: PlannedCell,
  options: RunOptions,
  model: LanguageModel,
  pairs: ReadonlyArray<EncodedPair>,
  sorted: Float32Array,
): Effect.Effect<{ steps: number; skippedSteps: number }, RunError> {
  return Effect.gen(function* () {
    const objective = cell.objectivePart!.part;
    const params = objective.resolve
      ? objective.resolve(cell.objectivePart!.params, baseStatistics(sorted))
      : cell.objectivePart!.params;
    const steps = cell.train.steps > 0
      ? cell.train.steps
      : Math.max(1, Math.floor(pairs.length / cell.train.batchSize));
    const settings: TrainSettings = { ...cell.train, steps };
    const checkpointPath = `${options.out}/cells/${cell.key}.checkpoint`;
    const metricsPath = `${options.out}/cells/${cell.key}.metrics.jsonl`;
    const hasCheckpoint = yield* Effect.promise(() =>
      Deno.stat(checkpointPath).then(() => true, () => false)
    );
    if (hasCheckpoint) {
      const { metadata, tensors } = yield* Effect.promise(() => loadState(checkpointPath));
      for (const t of tensors.values()) t.dispose();
      yield* Effect.promise(() => keepMetricsUpTo(metricsPath, Number(metadata.step)));
    } else {
      yield* Effect.promise(() => writeAtomic(metricsPath, ""));
    }
    const reference = objective.needs?.referenceLogits ? model.snapshot() : undefined;
    const lines: string[] = [];
    const flush = () => {
      if (lines.length === 0) return Promise.resolve();
      const text = lines.join("");
      lines.length = 0;
      return Deno.writeTextFile(metricsPath, text, { append: true });
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
        options.progress.step(metrics, steps);
        if (metrics.step % settings.checkpointEvery === 0 || metrics.step === steps) {
          // Metrics reach the file no later than the checkpoint that covers them.
          Deno.writeTextFileSync(metricsPath, lines.join(""), { append: true });
          lines.length = 0;
        }
      },
    }).pipe(Effect.ensuring(Effect.sync(() => reference?.dispose())));
    yield* Effect.promise(flush);
    return { steps: summary.steps, skippedSteps: summary.skippedSteps };
  });
}
