/**
 * `deno task experiment [--preset NAME|PATH] [--out DIR] [--backend NAME] [--plugin SPEC]…
 * [--jobs N] [--save-models] [--plan] [--cluster postgres://…] [path=value …]`: runs (or resumes)
 * an experiment grid and writes results, report and plots. `--jobs N` (or `PROBSFT_JOBS`; default
 * the number of cores, 1 on a GPU backend) runs up to N independent cells at once, each in a
 * worker process, with the same results as `--jobs 1`, which runs them one after another in this
 * process. With `--save-models` (or `saveModels` in the preset) each fine-tuned model is written
 * as a Hugging Face folder in `OUT/models/`; `--plan` prints the memory plan of each domain and
 * backbone and exits. With `--cluster` its cells run on the cluster's runners
 * (`deno task experiment collect --out DIR --cluster URL` gathers a sweep's
 * results later). With no arguments it runs the `default` preset: the capability continuum in
 * miniature.
 *
 * @module
 */
import { Effect } from "effect";
import {
  applyOverrides,
  choiceLabel,
  decodeExperiment,
  type ExperimentConfig,
} from "../core/config.ts";
import { equivalentPairs, type LabelledObjective } from "../core/equivalence.ts";
import { ConfigError } from "../core/errors.ts";
import { checkFigures } from "../core/figure.ts";
import { writeReport } from "../core/report.ts";
import { runExperiment } from "../core/runner.ts";
import { defaultBackend, useBackend } from "../core/backend/mod.ts";
import { clusterExperiment, collectExperiment } from "../cluster/experiment.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";
import { printPlans } from "./experiment_plan.ts";
import { consoleProgress } from "./progress.ts";
import { registryWith } from "./registry_with.ts";

const presetDir = new URL("../presets/", import.meta.url);

/**
 * Reads a preset by name (from `presets/`) or path, applies overrides and decodes it.
 *
 * @param preset A preset name or a JSON file path.
 * @param overrides `path=value` strings.
 * @returns The config and the file it came from.
 */
export function loadPreset(
  preset: string,
  overrides: ReadonlyArray<string>,
): Effect.Effect<{ config: ExperimentConfig; source: string }, ConfigError> {
  return Effect.gen(function* () {
    const byName = /^[a-z0-9-]+$/.test(preset);
    const url = byName ? new URL(`${preset}.json`, presetDir) : undefined;
    const source = byName ? `presets/${preset}.json` : preset;
    const text = yield* Effect.tryPromise({
      try: () => (url ? Deno.readTextFile(url) : Deno.readTextFile(preset)),
      catch: () =>
        new ConfigError({
          message: byName
            ? `Unknown preset "${preset}": no presets/${preset}.json (give a name from presets/ or a path to a JSON file)`
            : `Cannot read preset file ${preset}: it does not exist or is not readable`,
          where: source,
        }),
    });
    const raw = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) =>
        new ConfigError({
          message: `${source} is not valid JSON: ${(error as Error).message.split("\n")[0]}`,
          where: source,
        }),
    });
    const overridden = yield* applyOverrides(raw, overrides);
    const config = yield* decodeExperiment(overridden, source);
    const figureError = checkFigures(config, source);
    if (figureError) return yield* figureError;
    return { config, source };
  });
}

/** The worker processes of `--jobs`: this Deno running main.ts's internal `cell-worker`. */
function workerCommand(): { command: string; args: string[] } {
  const main = new URL("../main.ts", import.meta.url);
  const config = new URL("../deno.json", import.meta.url);
  let local = false;
  try {
    local = main.protocol === "file:" && Deno.statSync(config).isFile;
  } catch {
    // not beside its deno.json
  }
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "-A",
      ...(local ? ["--config", config.pathname] : []),
      local ? main.pathname : main.href,
      "cell-worker",
    ],
  };
}

/**
 * `--jobs`, else `PROBSFT_JOBS`, else the number of cores (1 on a GPU backend, whose memory the
 * memory budget does not see): a whole number of at least 1.
 */
function jobsOf(flag: string | undefined, backend: string): Effect.Effect<number, ConfigError> {
  const text = flag ?? Deno.env.get("PROBSFT_JOBS");
  const where = flag !== undefined ? "--jobs" : "PROBSFT_JOBS";
  const gpu = backend === "webgpu" || backend === "tensorflow";
  return Effect.flatMap(
    numberFlag("experiment", "jobs", text, gpu ? 1 : navigator.hardwareConcurrency ?? 1),
    (jobs) =>
      Number.isInteger(jobs) && jobs >= 1 ? Effect.succeed(jobs) : Effect.fail(
        new ConfigError({
          message: `experiment: ${where} must be a whole number of at least 1, got ${text}`,
          where,
        }),
      ),
  );
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:T]/g, "-").replace(/\..*$/, "");
}

/** The experiment command. */
export const experimentCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values, positionals } = yield* parseFlags("experiment", args, {
      preset: { type: "string" },
      out: { type: "string" },
      backend: { type: "string" },
      plugin: { type: "string", multiple: true },
      cache: { type: "string" },
      cluster: { type: "string" },
      jobs: { type: "string" },
      "save-models": { type: "boolean" },
      plan: { type: "boolean" },
    });
    if (positionals[0] === "collect") return yield* collectExperiment(values.cluster, values.out);
    const presetName = values.preset ?? "default";
    const loaded = yield* loadPreset(presetName, positionals);
    const source = loaded.source;
    const config = values["save-models"] ? { ...loaded.config, saveModels: true } : loaded.config;
    const name = config.name ?? presetName.replace(/^.*\//, "").replace(/\.json$/, "");
    if (values.plan) {
      const registry = yield* registryWith([...(config.plugins ?? []), ...(values.plugin ?? [])]);
      const backend = values.backend ?? config.backend ?? defaultBackend;
      return yield* printPlans(config, source, registry, backend, (line) => console.log(line));
    }
    const out = values.out ?? `runs/${timestamp()}-${name}`;
    const jobs = yield* jobsOf(values.jobs, values.backend ?? config.backend ?? defaultBackend);
    yield* useBackend(values.backend ?? config.backend ?? defaultBackend);
    const registry = yield* registryWith([...(config.plugins ?? []), ...(values.plugin ?? [])]);
    const progress = consoleProgress(name);
    progress.log(`${name}: writing to ${out}`);
    for (
      const objectives of new Set(config.domains.map((d) => d.objectives ?? config.objectives))
    ) {
      const resolved: LabelledObjective[] = [];
      for (const [i, choice] of objectives.entries()) {
        const { part, params } = yield* registry.objective(choice, `${source}: objectives[${i}]`);
        resolved.push({ label: choiceLabel(choice), part, params });
      }
      for (const [a, b] of yield* Effect.promise(() => equivalentPairs(resolved))) {
        progress.log(
          `note: objectives ${a} and ${b} have the same gradient on random inputs; they train identically, so one of them is redundant in this sweep`,
        );
      }
    }
    if (values.cluster !== undefined) {
      const plugins = [...(config.plugins ?? []), ...(values.plugin ?? [])];
      const backend = values.backend ?? config.backend ?? defaultBackend;
      const url = values.cluster;
      return yield* clusterExperiment({
        url,
        config,
        source,
        plugins,
        backend,
        name,
        out,
        registry,
        progress,
      });
    }
    const started = performance.now();
    const results = yield* runExperiment({
      config,
      source,
      out,
      cacheDir: values.cache ?? ".cache/probsft",
      registry,
      progress,
      onCell: (results) => writeReport(out, results, name, config.figures),
      jobs,
      worker: {
        ...workerCommand(),
        plugins: [...(config.plugins ?? []), ...(values.plugin ?? [])],
        backend: values.backend ?? config.backend ?? defaultBackend,
      },
    });
    yield* Effect.promise(() => writeReport(out, results, name, config.figures));
    const minutes = ((performance.now() - started) / 60000).toFixed(1);
    progress.log(
      `${name}: ${results.cells.length} cells finished, ${results.failures.length} failed, in ${minutes} min; report: ${out}/report.md`,
    );
    if (results.failures.length > 0) {
      return yield* new ConfigError({
        message: `${results.failures.length} cell(s) failed; see ${out}/report.md`,
        where: out,
      });
    }
  });
