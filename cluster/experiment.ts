/**
 * The cluster side of `deno task experiment`: `--cluster URL` submits the sweep and follows it,
 * writing the same files as a local run; `collect --out DIR --cluster URL` gathers a sweep's
 * finished cells into its folder later (after the submitting process was stopped).
 *
 * @module
 */
import { Effect } from "effect";
import { decodeExperiment, type FigureConfig } from "../core/config.ts";
import { ConfigError, type UnknownId } from "../core/errors.ts";
import { writeReport } from "../core/report.ts";
import type { Progress } from "../core/runner.ts";
import { checkUrl } from "./layers.ts";
import { collectSweep, type SubmitOptions, submitSweep } from "./sweep.ts";

/** What `experiment --cluster` passes on: the submission's settings, with progress reporting. */
export interface ClusterExperimentOptions
  extends Omit<SubmitOptions, "log" | "onCell" | "pollSeconds"> {
  /** Progress lines. */
  readonly progress: Progress;
}

/**
 * Submits an experiment to the cluster, follows it, and writes results and report.
 *
 * @param options From the experiment command.
 * @returns Nothing; fails when a cell failed, as a local run does.
 */
export function clusterExperiment(
  options: ClusterExperimentOptions,
): Effect.Effect<void, ConfigError | UnknownId> {
  return Effect.gen(function* () {
    const url = yield* checkUrl(options.url);
    const started = performance.now();
    const results = yield* submitSweep({
      url,
      config: options.config,
      source: options.source,
      plugins: options.plugins,
      backend: options.backend,
      name: options.name,
      out: options.out,
      registry: options.registry,
      log: (line) => options.progress.log(line),
      onCell: (results) => writeReport(options.out, results, options.name, options.config.figures),
    });
    yield* Effect.promise(() =>
      writeReport(options.out, results, options.name, options.config.figures)
    );
    const minutes = ((performance.now() - started) / 60000).toFixed(1);
    options.progress.log(
      `${options.name}: ${results.cells.length} cells finished, ${results.failures.length} failed, in ${minutes} min; report: ${options.out}/report.md`,
    );
    if (results.failures.length > 0) {
      return yield* new ConfigError({
        message: `${results.failures.length} cell(s) failed; see ${options.out}/report.md`,
        where: options.out,
      });
    }
  });
}

/**
 * `experiment collect --out DIR --cluster URL`: writes a sweep's finished cells, results.json
 * and the report into DIR.
 *
 * @param cluster The `--cluster` value (or `PROBSFT_CLUSTER`).
 * @param out The `--out` value.
 * @returns Nothing.
 */
export function collectExperiment(
  cluster: string | undefined,
  out: string | undefined,
): Effect.Effect<void, ConfigError> {
  return Effect.gen(function* () {
    const url = yield* checkUrl(cluster ?? Deno.env.get("PROBSFT_CLUSTER"));
    if (out === undefined) {
      return yield* new ConfigError({
        message: "experiment collect: give --out DIR, the folder the sweep was submitted with",
        where: "command line",
      });
    }
    const { results, unfinished } = yield* collectSweep(url, out);
    const figures = yield* submittedFigures(out);
    yield* Effect.promise(() => writeReport(out, results, results.name, figures));
    console.error(
      `${results.name}: ${results.cells.length} cells collected, ${results.failures.length} failed, ${unfinished} unfinished; report: ${out}/report.md`,
    );
  });
}

/**
 * The figures of the experiment submitted into `out`, read back from the `config.json` the
 * submission wrote there (none when the folder has no config, e.g. a sweep submitted elsewhere).
 */
function submittedFigures(
  out: string,
): Effect.Effect<ReadonlyArray<FigureConfig> | undefined, ConfigError> {
  const path = `${out}/config.json`;
  return Effect.gen(function* () {
    const text = yield* Effect.promise(() => Deno.readTextFile(path).catch(() => undefined));
    if (text === undefined) return undefined;
    const raw = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: () => new ConfigError({ message: `${path} is not JSON`, where: path }),
    });
    return (yield* decodeExperiment(raw, path)).figures;
  });
}
