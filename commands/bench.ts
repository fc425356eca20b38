/**
 * `deno task bench [--size NAME] [--json] [--vs-torch] [--steps N] [--micro-batch N]
 * [--recompute | --recompute-blocks N] [--backend NAME] [--plain]`: with `--size reference` (the default) times the reference workload
 * of `bench/workload.ts` (one training step with neg-log-prob and with neg-prob, greedy generation
 * with and without the key/value cache), reports peak RSS and the tfjs tensor count before and
 * after, and with `--vs-torch` runs the PyTorch twin (`bench/torch_reference.py`) in alternation
 * in a child process and prints ours/PyTorch ratios. The larger sizes (`27m`, `gpt2-small`,
 * `gpt2-medium`) time optimizer steps only (`commands/bench_size.ts`). Without `--backend` the
 * backend follows the size (`backendFor`): wasm while the model fits its heap, else cpu-blas.
 * `--experiment [--preset NAME] [--vs-torch] [--jobs N]` times a whole experiment against its
 * PyTorch twin instead (`commands/bench_experiment.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { ConfigError } from "../core/errors.ts";
import {
  backendFor,
  blasDescription,
  defaultBackend,
  disableBlas,
  fastPathsActive,
  setFastPaths,
  useBackend,
  wasmHeapBudgetBytes,
} from "../core/backend/mod.ts";
import { BackendError } from "../core/errors.ts";
import type { Objective } from "../core/plugin.ts";
import { negLogProb } from "../objectives/neg_log_prob.ts";
import { negProb } from "../objectives/neg_prob.ts";
import {
  activationBytes,
  type BenchSize,
  generateTokens,
  makeTrainer,
  paramCount,
  randomBatch,
  randomPrompts,
  reference,
  sizeNames,
  sizes,
  type SizeSpec,
  type Trainer,
  trainStep,
} from "../bench/workload.ts";
import { measureSize, printSizeReport } from "./bench_size.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";
import { TorchPeer } from "./_torch_peer.ts";
import { benchExperiment } from "./bench_experiment.ts";

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

const rssMb = (): number => Deno.memoryUsage().rss / 2 ** 20;

/** What the bench measures at the reference size (the `--json` object). */
export interface BenchReport {
  /** The workload size (`reference`). */
  readonly size: string;
  /** Trainable parameters. */
  readonly params: number;
  /** Tokens per optimizer step. */
  readonly tokensPerStep: number;
  /** Sequences per micro-batch (the whole batch). */
  readonly microBatch: number;
  /** The tfjs backend. */
  readonly backend: string;
  /** The BLAS behind matrix products, or null. */
  readonly blas: string | null;
  /** Whether the fused wasm kernels of backbones/ops.ts ran. */
  readonly fastPaths: boolean;
  /** Median training step with neg-log-prob, ms. */
  readonly trainStepMs: number;
  /** Median training step with neg-prob, ms. */
  readonly trainStepMsNegProb: number;
  /** trainStepMsNegProb − trainStepMs: the objective's own overhead, ms. */
  readonly objectiveOverheadMs: number;
  /** Training tokens per second at the median neg-log-prob step. */
  readonly tokensPerSecond: number;
  /** Greedy generation with the cache, new tokens per second. */
  readonly generateTokensPerSecond: number;
  /** The same without the cache. */
  readonly generateTokensPerSecondNoCache: number;
  /** Ratio of the two. */
  readonly generateSpeedupFromCache: number;
  /** Largest RSS seen, MB. */
  readonly peakRssMb: number;
  /** RSS after warm-up and at the end, MB. */
  readonly rssMb: { readonly afterWarmup: number; readonly end: number };
  /** tfjs tensors before the timed steps and after all of them. */
  readonly tensors: { readonly before: number; readonly after: number };
  /** Timed steps per objective. */
  readonly steps: number;
  /** The machine. */
  readonly machine: { readonly cores: number; readonly loadAverage: ReadonlyArray<number> };
  /** The PyTorch comparison, or why it was skipped. */
  readonly torch: Record<string, unknown>;
}

interface Options {
  readonly json: boolean;
  readonly vsTorch: boolean;
  readonly steps: number;
  readonly backend: string;
  readonly plain: boolean;
}

async function measure(options: Options, log: (line: string) => void): Promise<BenchReport> {
  if (options.plain) {
    disableBlas();
    setFastPaths(false);
  }
  const trainer: Trainer = makeTrainer(0);
  const batch = randomBatch(1);
  const prompts = randomPrompts(2);
  const nlp = negLogProb as Objective<unknown>;
  const np = negProb as Objective<unknown>;
  let peak = rssMb();
  const step = (objective: Objective<unknown>): number => {
    const t0 = performance.now();
    const { loss } = trainStep(trainer, objective, batch);
    const ms = performance.now() - t0;
    if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
    peak = Math.max(peak, rssMb());
    return ms;
  };
  const generation = async (useCache: boolean): Promise<number> => {
    const t0 = performance.now();
    const tokens = await generateTokens(trainer.model, prompts, useCache);
    peak = Math.max(peak, rssMb());
    return tokens / ((performance.now() - t0) / 1000);
  };

  log(`warming up (${tf.getBackend()}, blas: ${blasDescription() ?? "none"})`);
  for (let i = 0; i < 3; i++) {
    step(nlp);
    step(np);
  }
  await generation(true);
  await generation(false);
  const tensorsBefore = tf.memory().numTensors;
  const rssAfterWarmup = rssMb();

  let peer: TorchPeer | string = "not requested (--vs-torch)";
  if (options.vsTorch) peer = await TorchPeer.start();
  const rounds = 4;
  const perRound = Math.max(1, Math.ceil(options.steps / rounds));
  const ours = {
    nlp: [] as number[],
    np: [] as number[],
    gen: [] as number[],
    noCache: [] as number[],
  };
  const theirs: Record<string, number[]> = {};
  const push = (key: string, xs: ReadonlyArray<number>) => (theirs[key] ??= []).push(...xs);
  try {
    if (typeof peer !== "string") {
      for (const threads of [1, 2]) {
        for (const objective of ["neg-log-prob", "neg-prob"]) {
          await peer.ask({ what: "train", threads, steps: 3, objective });
        }
        await peer.ask({ what: "generate", threads, cache: true });
      }
    }
    for (let round = 0; round < rounds; round++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      log(`round ${round + 1}/${rounds}: ours`);
      for (let i = 0; i < perRound; i++) ours.nlp.push(step(nlp));
      for (let i = 0; i < perRound; i++) ours.np.push(step(np));
      ours.gen.push(await generation(true));
      ours.noCache.push(await generation(false));
      if (typeof peer === "string") continue;
      for (const threads of [1, 2]) {
        // Let the previous block's spinning BLAS/OpenMP threads go to sleep before timing.
        await new Promise((resolve) => setTimeout(resolve, 200));
        log(`round ${round + 1}/${rounds}: PyTorch, ${threads} thread(s)`);
        for (const objective of ["neg-log-prob", "neg-prob"]) {
          const r = await peer.ask({ what: "train", threads, steps: perRound, objective });
          push(`${objective}/${threads}`, r.ms);
        }
        for (const cache of [true, false]) {
          const r = await peer.ask({ what: "generate", threads, cache });
          push(`generate/${cache ? "cache" : "nocache"}/${threads}`, [
            r.tokens! / (r.ms[0]! / 1000),
          ]);
        }
      }
    }
  } finally {
    if (typeof peer !== "string") await peer.close();
  }
  const trainStepMs = median(ours.nlp);
  const trainStepMsNegProb = median(ours.np);
  const generateTokensPerSecond = median(ours.gen);
  const generateTokensPerSecondNoCache = median(ours.noCache);
  const tensorsAfter = tf.memory().numTensors;
  const rssEnd = rssMb();
  trainer.dispose();

  let torch: Record<string, unknown>;
  if (typeof peer === "string") {
    torch = { skipped: peer };
  } else {
    const best = (prefix: string, higherIsBetter: boolean) => {
      const one = median(theirs[`${prefix}/1`]!);
      const two = median(theirs[`${prefix}/2`]!);
      return {
        oneThread: one,
        twoThreads: two,
        best: higherIsBetter ? Math.max(one, two) : Math.min(one, two),
      };
    };
    const nlpT = best("neg-log-prob", false);
    const npT = best("neg-prob", false);
    const genT = best("generate/cache", true);
    const noCacheT = best("generate/nocache", true);
    torch = {
      version: peer.version,
      trainStepMs: nlpT,
      trainStepMsNegProb: npT,
      generateTokensPerSecond: genT,
      generateTokensPerSecondNoCache: noCacheT,
      ratio: {
        // ours / PyTorch's faster thread count; for times lower is better, for rates higher.
        trainStepMs: trainStepMs / nlpT.best,
        trainStepMsNegProb: trainStepMsNegProb / npT.best,
        generateTokensPerSecond: generateTokensPerSecond / genT.best,
        generateTokensPerSecondNoCache: generateTokensPerSecondNoCache / noCacheT.best,
      },
    };
  }
  return {
    size: "reference",
    params: paramCount(sizes.reference),
    tokensPerStep: reference.batch * reference.time,
    microBatch: reference.batch,
    backend: tf.getBackend(),
    blas: blasDescription(),
    fastPaths: fastPathsActive(),
    trainStepMs,
    trainStepMsNegProb,
    objectiveOverheadMs: trainStepMsNegProb - trainStepMs,
    tokensPerSecond: (reference.batch * reference.time) / (trainStepMs / 1000),
    generateTokensPerSecond,
    generateTokensPerSecondNoCache,
    generateSpeedupFromCache: generateTokensPerSecond / generateTokensPerSecondNoCache,
    peakRssMb: peak,
    rssMb: { afterWarmup: rssAfterWarmup, end: rssEnd },
    tensors: { before: tensorsBefore, after: tensorsAfter },
    steps: ours.nlp.length,
    machine: { cores: navigator.hardwareConcurrency, loadAverage: Deno.loadavg() },
    torch,
  };
}

function printReport(r: BenchReport): void {
  const f = (x: number, digits = 1) => Number.isFinite(x) ? x.toFixed(digits) : String(x);
  console.log(`backend ${r.backend}; blas ${r.blas ?? "none"}; fused wasm kernels ${r.fastPaths}`);
  console.log(
    `train step (1,024 tokens), median of ${r.steps}: neg-log-prob ${f(r.trainStepMs)} ms, ` +
      `neg-prob ${f(r.trainStepMsNegProb)} ms (objective overhead ${
        f(r.objectiveOverheadMs)
      } ms); ` +
      `${f(r.tokensPerSecond, 0)} tokens/s`,
  );
  console.log(
    `generation (batch 8, prompt 32, 64 new, greedy): ${
      f(r.generateTokensPerSecond, 0)
    } tokens/s ` +
      `with the cache, ${f(r.generateTokensPerSecondNoCache, 0)} without (${
        f(r.generateSpeedupFromCache)
      }×)`,
  );
  console.log(
    `memory: peak RSS ${f(r.peakRssMb)} MB (after warm-up ${f(r.rssMb.afterWarmup)}, end ` +
      `${f(r.rssMb.end)}); tfjs tensors ${r.tensors.before} before, ${r.tensors.after} after`,
  );
  const t = r.torch;
  if (typeof t.skipped === "string") {
    console.log(`PyTorch comparison skipped: ${t.skipped}`);
  } else {
    const ratio = t.ratio as Record<string, number>;
    const steps = t.trainStepMs as { oneThread: number; twoThreads: number };
    console.log(
      `PyTorch ${t.version}: train step ${f(steps.oneThread)} ms (1 thread), ${
        f(steps.twoThreads)
      } ms (2)`,
    );
    for (const [k, v] of Object.entries(ratio)) console.log(`  ours/PyTorch ${k}: ${f(v, 2)}`);
  }
  console.log(`machine: ${r.machine.cores} cores, load average ${r.machine.loadAverage.join(" ")}`);
}

/**
 * The backend a bench run uses: `--backend` when given, else the one {@link backendFor} picks for
 * the size; fails with one line when the model cannot fit the backend's memory.
 */
function chooseBackend(
  size: SizeSpec,
  microBatch: number,
  requested: string | undefined,
): { backend: string; note: string | null } | BackendError {
  const choice = backendFor(paramCount(size), activationBytes(size, microBatch));
  if (requested === "wasm" && choice.bytes > wasmHeapBudgetBytes) {
    return new BackendError({
      message: `bench --size ${size.name} (micro-batch ${microBatch}) cannot run on wasm: ${
        choice.reason.split(";")[0]!.split(", more than")[0]
      }, more than the wasm heap's ${
        (wasmHeapBudgetBytes / 2 ** 30).toFixed(1)
      } GiB; use --backend cpu-blas or a smaller --micro-batch`,
      backend: "wasm",
    });
  }
  if (requested !== undefined) return { backend: requested, note: null };
  if (choice.backend === null) {
    return new BackendError({
      message: `bench --size ${size.name}: ${choice.reason}`,
      backend: "wasm",
    });
  }
  return {
    backend: choice.backend,
    note: choice.backend === defaultBackend ? null : `probsft: ${choice.reason}`,
  };
}

/**
 * The `bench` command.
 *
 * @param args `--size NAME` (`reference`, the default; `27m`, `gpt2-small`, `gpt2-medium`),
 *   `--json`, `--vs-torch`, `--steps N` (timed steps; default 20 per objective at the reference
 *   size, 1000 for the leak check; 4 or 3 at the larger sizes), `--micro-batch N` (sequences per
 *   micro-batch; default the whole batch, 4 for gpt2-small and 2 for gpt2-medium), `--backend
 *   NAME` (default by size: wasm, or cpu-blas where the wasm heap cannot hold the model),
 *   `--plain` (no OpenBLAS, no fused kernels: the plain wasm path).
 * @returns An Effect that prints the report.
 */
export const benchCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values, positionals } = yield* parseFlags("bench", args, {
      json: { type: "boolean" },
      "vs-torch": { type: "boolean" },
      steps: { type: "string" },
      backend: { type: "string" },
      plain: { type: "boolean" },
      size: { type: "string" },
      "micro-batch": { type: "string" },
      recompute: { type: "boolean" },
      "recompute-blocks": { type: "string" },
      experiment: { type: "boolean" },
      preset: { type: "string" },
      out: { type: "string" },
      jobs: { type: "string" },
      "torch-threads": { type: "string" },
    });
    if (values.experiment === true) {
      const jobs = values.jobs === undefined
        ? undefined
        : yield* numberFlag("bench", "jobs", values.jobs, 1);
      const threads = yield* numberFlag("bench", "torch-threads", values["torch-threads"], 1);
      for (const [flag, n] of [["jobs", jobs ?? 1], ["torch-threads", threads]] as const) {
        if (!Number.isInteger(n) || n < 1) {
          return yield* new ConfigError({
            message: `bench: --${flag} must be a whole number of at least 1, got ${n}`,
            where: "command line",
          });
        }
      }
      return yield* benchExperiment({
        preset: values.preset ?? "default",
        overrides: positionals,
        ...(values.out !== undefined ? { out: values.out } : {}),
        ...(jobs !== undefined ? { jobs } : {}),
        vsTorch: values["vs-torch"] === true,
        json: values.json === true,
        torchThreads: threads,
      });
    }
    for (const flag of ["preset", "out", "jobs", "torch-threads"] as const) {
      if (values[flag] !== undefined) {
        return yield* new ConfigError({
          message: `bench: --${flag} applies to --experiment only`,
          where: "command line",
        });
      }
    }
    const sizeName = values.size ?? "reference";
    if (!sizeNames.includes(sizeName as BenchSize)) {
      return yield* new ConfigError({
        message: `bench: --size must be one of ${sizeNames.join(", ")}, got ${
          JSON.stringify(sizeName)
        }`,
        where: "command line",
      });
    }
    const size = sizes[sizeName as BenchSize];
    const isReference = size.name === "reference";
    const steps = yield* numberFlag("bench", "steps", values.steps, isReference ? 20 : size.steps);
    if (!Number.isInteger(steps) || steps < 1) {
      return yield* new ConfigError({
        message: `bench: --steps must be a positive integer, got ${steps}`,
        where: "command line",
      });
    }
    const microBatch = yield* numberFlag(
      "bench",
      "micro-batch",
      values["micro-batch"],
      size.microBatch,
    );
    if (!Number.isInteger(microBatch) || microBatch < 1 || size.batch % microBatch !== 0) {
      return yield* new ConfigError({
        message:
          `bench: --micro-batch must divide the batch of ${size.batch} at --size ${size.name}, got ${microBatch}`,
        where: "command line",
      });
    }
    if (isReference && microBatch !== size.batch) {
      return yield* new ConfigError({
        message: `bench: --micro-batch applies to the larger sizes, not --size reference`,
        where: "command line",
      });
    }
    const blocks = yield* numberFlag("bench", "recompute-blocks", values["recompute-blocks"], 0);
    if (!Number.isInteger(blocks) || blocks < 0) {
      return yield* new ConfigError({
        message: `bench: --recompute-blocks must be a whole number of blocks, got ${blocks}`,
        where: "command line",
      });
    }
    const choice = chooseBackend(size, microBatch, values.backend);
    if (choice instanceof BackendError) return yield* choice;
    yield* useBackend(choice.backend);
    const json = values.json === true;
    const log = json ? () => {} : (line: string) => console.error(line);
    if (choice.note !== null) console.error(choice.note);
    if (!isReference) {
      if (values.plain === true) {
        disableBlas();
        setFastPaths(false);
      }
      const report = yield* Effect.promise(() =>
        measureSize(size, {
          vsTorch: values["vs-torch"] === true,
          steps,
          warmup: size.warmup,
          microBatch,
          recompute: values.recompute === true ? true : blocks,
        }, log)
      );
      if (json) console.log(JSON.stringify(report));
      else printSizeReport(report);
      return;
    }
    const options: Options = {
      json,
      vsTorch: values["vs-torch"] === true,
      steps,
      backend: choice.backend,
      plain: values.plain === true,
    };
    const report = yield* Effect.promise(() => measure(options, log));
    if (options.json) console.log(JSON.stringify(report));
    else printReport(report);
  });
