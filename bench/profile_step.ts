/**
 * `deno run -A bench/profile_step.ts [--size NAME] [--steps N] [--plain] [--micro-batch N]
 * [--recompute-blocks N] [--backend NAME]`: the kernels of one training step by total time
 * (tfjs's `tf.profile`). `--size default` (the default) is the model of the default preset (gpt2,
 * d 64, 4 heads, 2 layers, MLP 256, exact GELU, a 40-symbol vocabulary, 32 × 64 tokens) and
 * `reference` the bench's reference workload, both on the default backend (`PROBSFT_BLAS=0`
 * profiles plain wasm); `27m`, `gpt2-small` and `gpt2-medium` run `deno task bench --size`'s step
 * (`bench/workload.ts`: its micro-batches, `--recompute-blocks`, the backend it picks or
 * `--backend`), one warm-up and `--steps` (default 1) timed steps before the profiled one. At the
 * larger sizes the elementwise kernels' output shapes are listed too.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import "../core/backend/mod.ts";
import { backendFor, disableBlas, setFastPaths, useBackend } from "../core/backend/mod.ts";
import { tinyConfig, Transformer } from "../backbones/transformer.ts";
import { AdamW } from "../core/optimizer.ts";
import { batchLoss } from "../core/batch_loss.ts";
import { negLogProb } from "../objectives/neg_log_prob.ts";
import { negProb } from "../objectives/neg_prob.ts";
import type { Objective } from "../core/plugin.ts";
import {
  activationBytes,
  type BenchSize,
  benchTokenizer,
  makeTrainer,
  paramCount,
  randomBatch,
  sizeConfig,
  sizes,
  trainStep,
} from "./workload.ts";

const args = Deno.args;
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const which = flag("size", "default");
const large = which !== "default" && which !== "reference";
if (large && !(which in sizes)) {
  console.error(`profile_step: unknown --size ${which}`);
  Deno.exit(2);
}
const steps = Number(flag("steps", large ? "1" : "5"));
if (args.includes("--plain")) {
  disableBlas();
  setFastPaths(false);
}
const objective =
  (flag("objective", "neg-log-prob") === "neg-prob" ? negProb : negLogProb) as Objective<unknown>;
// The bench's larger size and its micro-batch (the size's own unless --micro-batch).
const largeSize = large ? sizes[which as BenchSize] : undefined;
const microBatch = Number(flag("micro-batch", String(largeSize?.microBatch ?? 0)));

/** One training step of the chosen workload. */
function makeStep(): () => void {
  if (largeSize !== undefined) {
    const recompute = Number(flag("recompute-blocks", "0"));
    const trainer = makeTrainer(0, largeSize);
    const batch = randomBatch(1, largeSize);
    return () => void trainStep(trainer, objective, batch, microBatch, recompute);
  }
  const config = which === "default"
    ? tinyConfig("gpt2", 40, { contextLength: 128 })
    : sizeConfig(sizes.reference);
  const size = which === "default"
    ? { ...sizes.reference, vocabSize: 40, batch: 32 }
    : sizes.reference;
  const model = new Transformer(config, {
    tokenizer: { ...benchTokenizer, vocabSize: config.vocabSize },
    seed: 0,
  });
  const optimizer = new AdamW(model.variables, {});
  const batch = randomBatch(1, size);
  return () => {
    const { grads, value } = tf.tidy(() => {
      const inputs = tf.tensor2d(batch.inputs, [batch.rows, batch.time], "int32");
      const targets = tf.tensor2d(batch.targets, [batch.rows, batch.time], "int32");
      const mask = tf.ones([batch.rows, batch.time]) as tf.Tensor2D;
      return tf.variableGrads(
        () =>
          batchLoss(model, { inputs, targets, mask }, {
            objective,
            params: {},
            seed: 0,
            chunkPositions: 0,
          }).loss,
        [...model.variables],
      );
    });
    optimizer.apply(model.variables.map((v) => grads[v.name]!), 1e-3);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
}

if (largeSize !== undefined) {
  const backend = flag("backend", "") ||
    backendFor(paramCount(largeSize), activationBytes(largeSize, microBatch)).backend;
  if (backend === null) {
    console.error(`profile_step: no backend here holds --size ${which}`);
    Deno.exit(1);
  }
  await Effect.runPromise(useBackend(backend));
}
const step = makeStep();
for (let i = 0; i < (large ? 1 : 3); i++) step();
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  step();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(
  `${which} ${tf.getBackend()} step median ${times[times.length >> 1]!.toFixed(1)} ms ` +
    `(min ${times[0]!.toFixed(1)}) tensors ${tf.memory().numTensors}`,
);
const info = await tf.profile(() => step());
const byName = new Map<string, { ms: number; n: number }>();
let total = 0;
for (const k of info.kernels) {
  const ms = Number(await k.kernelTimeMs);
  const key = k.name +
    (k.name === "BatchMatMul" || k.name === "_FusedMatMul"
      ? ` ${k.inputShapes.map((s) => JSON.stringify(s)).join("x")}`
      : large && !k.name.startsWith("Probsft") && k.outputShapes.length === 1
      ? ` → ${JSON.stringify(k.outputShapes[0])}`
      : "");
  const e = byName.get(key) ?? { ms: 0, n: 0 };
  e.ms += ms;
  e.n += 1;
  total += ms;
  byName.set(key, e);
}
console.log(`kernels ${info.kernels.length}, kernel time ${total.toFixed(1)} ms`);
for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40)) {
  console.log(`${e.ms.toFixed(2).padStart(8)} ms ${String(e.n).padStart(4)}× ${name}`);
}
