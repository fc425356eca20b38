/**
 * `deno task soak [--steps N] [--every K] [--backend NAME] [--json]`: a long training run of a tiny
 * model (the real SFT loop: batches, objective, AdamW, checkpoints every 50 steps, a short greedy
 * generation every `every` steps) that samples the tfjs tensor count and the resident set size as
 * it goes, and prints the figures. A loop that leaks shows as a growing tensor count (any growth
 * is a leak) or a resident set that keeps climbing after warm-up. The test suite runs a few hundred
 * steps (tests/reliability/soak_test.ts); the command defaults to 10,000.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { ConfigError } from "../core/errors.ts";
import type { UserError } from "../core/errors.ts";
import type { LanguageModel } from "../core/plugin.ts";
import { makeRegistry } from "../core/registry.ts";
import { encodePairs, encodePrompt } from "../core/sft_batches.ts";
import { useBackend } from "../core/backend/mod.ts";
import { paperRecipe, train } from "../core/train.ts";
import { builtins } from "../plugins/builtins.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";

/** One measurement of a soak run. */
export interface SoakSample {
  /** The step after which it was taken. */
  readonly step: number;
  /** `tf.memory().numTensors`. */
  readonly tensors: number;
  /** Resident set size in MiB. */
  readonly rssMiB: number;
  /** Seconds since the start. */
  readonly seconds: number;
}

/** What a soak run found. */
export interface SoakReport {
  /** Steps run. */
  readonly steps: number;
  /** The samples, the first taken after the first step. */
  readonly samples: ReadonlyArray<SoakSample>;
  /** Most tensors minus fewest over the samples (0 when nothing leaks). */
  readonly tensorDrift: number;
  /** Resident set of the last quarter of samples minus that of the first quarter after warm-up. */
  readonly rssGrowthMiB: number;
  /** Skipped steps (non-finite loss or gradient). */
  readonly skippedSteps: number;
  /** Mean steps per second. */
  readonly stepsPerSecond: number;
}

/** Options of {@link soak}. */
export interface SoakOptions {
  /** Training steps. */
  readonly steps: number;
  /** Steps between samples (and between generations). @default 25 */
  readonly every?: number;
  /** A folder for the running checkpoint. */
  readonly dir: string;
  /** Called with each sample. */
  readonly onSample?: (sample: SoakSample) => void;
}

function median(values: ReadonlyArray<number>): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Trains a tiny transformer on the `math` domain for `steps` steps in chunks of `every` steps
 * (each chunk a fresh optimizer, a checkpoint written halfway, then a short greedy generation),
 * sampling the tensor count and the resident set after each chunk.
 *
 * @param options Steps, sampling interval and checkpoint folder.
 * @returns The figures.
 */
export function soak(options: SoakOptions): Effect.Effect<SoakReport, UserError> {
  const every = Math.max(2, options.every ?? 25);
  return Effect.gen(function* () {
    const registry = yield* makeRegistry([builtins]);
    const domain = yield* registry.domain({
      id: "math",
      params: { sftExamples: 64, testItems: 8, samples: 1, corpusDocuments: 16 },
    });
    const backbone = yield* registry.backbone({
      id: "transformer",
      params: { dModel: 16, nLayers: 1, nHeads: 2, dMlp: 32 },
    });
    const objective = yield* registry.objective({ id: "neg-prob" });
    const data = yield* domain.part.load(domain.params, 0);
    const checkpointPath = `${options.dir}/soak.checkpoint`;
    const build = backbone.part.make(backbone.params, {
      seed: 0,
      domain: data,
      cacheDir: options.dir,
      log: () => {},
    });
    const use = (model: LanguageModel) =>
      Effect.gen(function* () {
        const pairs = encodePairs(data.sft, model.tokenizer, model.contextLength, "math");
        const prompts = data.benchmarks[0]!.examples.slice(0, 2).map((e) =>
          encodePrompt(model.tokenizer, e.prompt)
        );
        const samples: SoakSample[] = [];
        const started = performance.now();
        let skippedSteps = 0;
        for (let done = 0; done < options.steps; done += every) {
          const steps = Math.min(every, options.steps - done);
          const summary = yield* train({
            model,
            objective: objective.part,
            params: objective.params,
            pairs,
            seed: done,
            settings: {
              ...paperRecipe,
              steps,
              batchSize: 8,
              learningRate: 1e-3,
              checkpointEvery: Math.max(1, Math.floor(every / 2)),
            },
            checkpointPath,
            onStep: () => {},
          });
          skippedSteps += summary.skippedSteps;
          yield* Effect.promise(() => Deno.remove(checkpointPath).catch(() => undefined));
          yield* Effect.promise(() => model.generate(prompts, { maxNewTokens: 4 }));
          const sample: SoakSample = {
            step: done + steps,
            tensors: tf.memory().numTensors,
            rssMiB: Deno.memoryUsage().rss / 2 ** 20,
            seconds: (performance.now() - started) / 1000,
          };
          samples.push(sample);
          options.onSample?.(sample);
        }
        return { samples, skippedSteps, seconds: (performance.now() - started) / 1000 };
      });
    const run = yield* Effect.acquireUseRelease(
      build,
      use,
      (model) => Effect.sync(() => model.dispose()),
    );
    const tensors = run.samples.map((s) => s.tensors);
    // Warm-up: the first quarter of samples (allocator and JIT settle); growth is measured after.
    const quarter = Math.max(1, Math.floor(run.samples.length / 4));
    const rss = run.samples.map((s) => s.rssMiB);
    return {
      steps: options.steps,
      samples: run.samples,
      tensorDrift: Math.max(...tensors) - Math.min(...tensors),
      rssGrowthMiB: median(rss.slice(-quarter)) - median(rss.slice(quarter, 2 * quarter)),
      skippedSteps: run.skippedSteps,
      stepsPerSecond: options.steps / Math.max(run.seconds, 1e-9),
    };
  });
}

/** The soak command. */
export const soakCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("soak", args, {
      steps: { type: "string" },
      every: { type: "string" },
      backend: { type: "string" },
      json: { type: "boolean" },
    });
    const steps = yield* numberFlag("soak", "steps", values.steps, 10_000);
    const every = yield* numberFlag("soak", "every", values.every, 100);
    if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(every) || every < 2) {
      return yield* new ConfigError({
        message:
          `soak: --steps must be an integer >= 1 and --every >= 2, got ${steps} and ${every}`,
        where: "command line",
      });
    }
    yield* useBackend(values.backend ?? "wasm");
    const dir = yield* Effect.promise(() => Deno.makeTempDir({ prefix: "probsft-soak-" }));
    const report = yield* soak({
      steps,
      every,
      dir,
      onSample: (s) => {
        if (!values.json) {
          console.error(
            `step ${s.step}: ${s.tensors} tensors, rss ${s.rssMiB.toFixed(1)} MiB, ${
              s.seconds.toFixed(0)
            } s`,
          );
        }
      },
    }).pipe(
      Effect.ensuring(Effect.promise(() => Deno.remove(dir, { recursive: true }).catch(() => {}))),
    );
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else {
      const first = report.samples[0]!;
      const last = report.samples.at(-1)!;
      console.log(
        [
          `| steps | tensors (first / last, drift) | rss MiB (first / last, growth after warm-up) | skipped | steps/s |`,
          "| ---: | --- | --- | ---: | ---: |",
          `| ${report.steps} | ${first.tensors} / ${last.tensors}, ${report.tensorDrift} | ${
            first.rssMiB.toFixed(0)
          } / ${last.rssMiB.toFixed(0)}, ${
            report.rssGrowthMiB.toFixed(1)
          } | ${report.skippedSteps} | ${report.stepsPerSecond.toFixed(1)} |`,
        ].join("\n"),
      );
    }
    if (report.tensorDrift !== 0) {
      return yield* Effect.die(
        new Error(`soak: the tensor count drifted by ${report.tensorDrift} (a leak)`),
      );
    }
  });
