/**
 * `deno task bench --size NAME` for the sizes past the reference (`27m`, `gpt2-small`,
 * `gpt2-medium` of `bench/workload.ts`): warm-up and timed optimizer steps with neg-log-prob,
 * micro-batches accumulated, peak resident memory from the kernel's high-water mark, the tfjs
 * tensor count before and after, and with `--vs-torch` the PyTorch twin at the same shape and
 * micro-batch (1 and 2 threads, the faster counts).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Objective, Recompute } from "../core/plugin.ts";
import { blasDescription } from "../core/backend/mod.ts";
import { negLogProb } from "../objectives/neg_log_prob.ts";
import {
  makeTrainer,
  paramCount,
  randomBatch,
  type SizeSpec,
  trainStep,
} from "../bench/workload.ts";
import { TorchPeer } from "./_torch_peer.ts";

/**
 * This process's peak resident set so far, MB: `VmHWM` of `/proc/self/status`, or the current
 * RSS where that file is missing.
 *
 * @returns Megabytes (2^20 bytes).
 */
export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // Not Linux, or no read permission: fall back to the current RSS.
  }
  return Deno.memoryUsage().rss / 2 ** 20;
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** What `bench --size NAME` measures (the `--json` object). */
export interface SizeReport {
  /** The workload size. */
  readonly size: string;
  /** Trainable parameters. */
  readonly params: number;
  /** Tokens per optimizer step. */
  readonly tokensPerStep: number;
  /** Sequences per micro-batch. */
  readonly microBatch: number;
  /** Which blocks recomputed their activations in the backward pass (all, none, the first n). */
  readonly recompute: Recompute;
  /** The tfjs backend. */
  readonly backend: string;
  /** The BLAS behind matrix products, or null. */
  readonly blas: string | null;
  /** Median optimizer step, ms. */
  readonly trainStepMs: number;
  /** Every timed step, ms. */
  readonly stepsMs: ReadonlyArray<number>;
  /** Tokens per second at the median step. */
  readonly tokensPerSecond: number;
  /** Peak resident memory of this process, MB. */
  readonly peakRssMb: number;
  /** Seconds to build the model and optimizer. */
  readonly initSeconds: number;
  /** tfjs tensors before the timed steps and after them. */
  readonly tensors: { readonly before: number; readonly after: number };
  /** Warm-up steps and timed steps. */
  readonly warmup: number;
  /** Timed steps. */
  readonly steps: number;
  /** The machine. */
  readonly machine: { readonly cores: number; readonly loadAverage: ReadonlyArray<number> };
  /** The PyTorch comparison (with `ratio`), or why it was skipped. */
  readonly torch: Record<string, unknown>;
}

/** Settings of {@link measureSize}. */
export interface SizeOptions {
  /** Run the PyTorch twin too. */
  readonly vsTorch: boolean;
  /** Timed steps. */
  readonly steps: number;
  /** Warm-up steps. */
  readonly warmup: number;
  /** Sequences per micro-batch. */
  readonly microBatch: number;
  /** Which blocks recompute their activations in the backward pass (probsft only). */
  readonly recompute?: Recompute;
}

/**
 * Measures one size on the active backend, then (optionally) the PyTorch twin.
 *
 * @param size The size.
 * @param options Steps, micro-batch, whether to compare.
 * @param log Progress lines.
 * @returns The report.
 */
export async function measureSize(
  size: SizeSpec,
  options: SizeOptions,
  log: (line: string) => void,
): Promise<SizeReport> {
  const objective = negLogProb as Objective<unknown>;
  const tokensPerStep = size.batch * size.time;
  let t0 = performance.now();
  const trainer = makeTrainer(0, size);
  const initSeconds = (performance.now() - t0) / 1000;
  const batch = randomBatch(1, size);
  log(
    `${size.name}: ${(paramCount(size) / 1e6).toFixed(1)}M parameters on ${tf.getBackend()} ` +
      `(blas: ${blasDescription() ?? "none"}), ${size.batch} × ${size.time} tokens, micro-batch ` +
      `${options.microBatch}; built in ${initSeconds.toFixed(1)} s`,
  );
  const ms: number[] = [];
  let before = 0, after = 0;
  const step = () =>
    trainStep(trainer, objective, batch, options.microBatch, options.recompute ?? false).loss;
  try {
    for (let i = 0; i < options.warmup; i++) {
      t0 = performance.now();
      const loss = step();
      if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
      log(`warm-up step ${i + 1}: ${(performance.now() - t0).toFixed(0)} ms, loss ${loss}`);
    }
    before = tf.memory().numTensors;
    for (let i = 0; i < options.steps; i++) {
      t0 = performance.now();
      const loss = step();
      ms.push(performance.now() - t0);
      if (!Number.isFinite(loss)) throw new Error(`non-finite loss ${loss}`);
      log(`step ${i + 1}/${options.steps}: ${ms[i]!.toFixed(0)} ms, loss ${loss.toFixed(4)}`);
    }
    after = tf.memory().numTensors;
  } finally {
    trainer.dispose();
  }
  const peak = peakRssMb();
  const trainStepMs = median(ms);
  let torch: Record<string, unknown> = { skipped: "not requested (--vs-torch)" };
  if (options.vsTorch) {
    const peer = await TorchPeer.start(size.name, options.microBatch);
    if (typeof peer === "string") torch = { skipped: peer };
    else {
      try {
        const best: Record<number, number> = {};
        let torchPeak = 0;
        for (const threads of [1, 2]) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          log(`PyTorch, ${threads} thread(s): warm-up`);
          await peer.ask({ what: "train", threads, steps: options.warmup });
          log(`PyTorch, ${threads} thread(s): ${options.steps} steps`);
          const r = await peer.ask({ what: "train", threads, steps: options.steps });
          best[threads] = median(r.ms);
          torchPeak = Math.max(torchPeak, r.peakRssMb ?? 0);
        }
        const stepMs = Math.min(best[1]!, best[2]!);
        torch = {
          version: peer.version,
          params: peer.params,
          trainStepMs: { oneThread: best[1], twoThreads: best[2], best: stepMs },
          peakRssMb: torchPeak,
          ratio: { trainStepMs: trainStepMs / stepMs, peakRssMb: peak / torchPeak },
        };
      } finally {
        await peer.close();
      }
    }
  }
  return {
    size: size.name,
    params: paramCount(size),
    tokensPerStep,
    microBatch: options.microBatch,
    recompute: options.recompute ?? false,
    backend: tf.getBackend(),
    blas: blasDescription(),
    trainStepMs,
    stepsMs: ms,
    tokensPerSecond: tokensPerStep / (trainStepMs / 1000),
    peakRssMb: peak,
    initSeconds,
    tensors: { before, after },
    warmup: options.warmup,
    steps: options.steps,
    machine: { cores: navigator.hardwareConcurrency, loadAverage: Deno.loadavg() },
    torch,
  };
}

/**
 * Prints a {@link SizeReport} for people.
 *
 * @param r The report.
 */
export function printSizeReport(r: SizeReport): void {
  const f = (x: number, digits = 1) => Number.isFinite(x) ? x.toFixed(digits) : String(x);
  console.log(
    `${r.size}: ${f(r.params / 1e6)}M parameters, ${r.tokensPerStep} tokens per step ` +
      `(micro-batch ${r.microBatch}${
        r.recompute === true
          ? ", blocks recomputed"
          : r.recompute
          ? `, first ${r.recompute} blocks recomputed`
          : ""
      }); backend ${r.backend}; blas ${r.blas ?? "none"}`,
  );
  console.log(
    `train step, median of ${r.steps}: ${f(r.trainStepMs, 0)} ms; ${
      f(r.tokensPerSecond, 0)
    } tokens/s; peak RSS ${f(r.peakRssMb, 0)} MB; tfjs tensors ${r.tensors.before} before, ` +
      `${r.tensors.after} after`,
  );
  const t = r.torch;
  if (typeof t.skipped === "string") console.log(`PyTorch comparison skipped: ${t.skipped}`);
  else {
    const steps = t.trainStepMs as { oneThread: number; twoThreads: number };
    const ratio = t.ratio as { trainStepMs: number; peakRssMb: number };
    console.log(
      `PyTorch ${t.version}: ${f(steps.oneThread, 0)} ms (1 thread), ${
        f(steps.twoThreads, 0)
      } ms (2), peak RSS ${f(t.peakRssMb as number, 0)} MB; ours/PyTorch: step ${
        f(ratio.trainStepMs, 2)
      }, memory ${f(ratio.peakRssMb, 2)}`,
    );
  }
  console.log(`machine: ${r.machine.cores} cores, load average ${r.machine.loadAverage.join(" ")}`);
}
