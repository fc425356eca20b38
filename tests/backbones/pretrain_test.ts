import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { testBackbone } from "../../core/testing.ts";
import { pretrainedBackbone } from "../../backbones/parts.ts";
import { pretrain, type PretrainOptions } from "../../backbones/pretrain.ts";
import { testContext, testDomain } from "./_domain.ts";

const options: PretrainOptions = {
  family: "gpt2",
  overrides: { dModel: 16, nHeads: 2, dMlp: 32, nLayers: 1 },
  steps: 30,
  lr: 1e-2,
  batchSize: 8,
  seqLen: 16,
  seed: 4,
};

function logitsOf(model: { logits(t: tf.Tensor2D): tf.Tensor3D }): number[] {
  return tf.tidy(() =>
    Array.from(model.logits(tf.tensor2d([[1, 5, 14, 6, 15]], [1, 5], "int32")).dataSync())
  );
}

Deno.test("pretrain lowers the loss, caches, and reuses the cache without retraining", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const before = tf.memory().numTensors;
  const first = await Effect.runPromise(pretrain(testDomain, options, testContext(dir, lines)));
  const losses = lines.filter((l) => l.includes("loss ")).map((l) =>
    Number(/loss ([0-9.]+)/.exec(l)![1])
  );
  assert.ok(losses.length >= 2);
  assert.ok(losses.at(-1)! < losses[0]!, `loss did not fall: ${losses.join(", ")}`);
  const files = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^pretrain-[0-9a-f]{32}\.safetensors$/);
  const again: string[] = [];
  const second = await Effect.runPromise(pretrain(testDomain, options, testContext(dir, again)));
  assert.ok(again.some((l) => l.startsWith("pretrain: cache hit")));
  assert.ok(!again.some((l) => l.includes("pretrain step")), "second call retrained");
  assert.deepEqual(logitsOf(second), logitsOf(first));
  first.dispose();
  second.dispose();
  assert.equal(tf.memory().numTensors, before, "pretraining leaked tensors");
});

Deno.test("pretrain with 0 steps is the random init and writes no cache", async () => {
  const dir = await Deno.makeTempDir();
  const a = await Effect.runPromise(
    pretrain(testDomain, { ...options, steps: 0 }, testContext(dir)),
  );
  const b = await Effect.runPromise(
    pretrain(testDomain, { ...options, steps: 0 }, testContext(dir)),
  );
  assert.deepEqual(logitsOf(a), logitsOf(b));
  assert.equal([...Deno.readDirSync(dir)].length, 0);
  a.dispose();
  b.dispose();
});

Deno.test("pretrain fails with a one-line DataError without symbols", async () => {
  const dir = await Deno.makeTempDir();
  const exit = await Effect.runPromiseExit(
    pretrain({ ...testDomain, symbols: undefined }, options, testContext(dir)),
  );
  assert.equal(exit._tag, "Failure");
  const text = JSON.stringify(exit);
  assert.match(text, /DataError/);
  assert.match(text, /no symbols/);
});

Deno.test("pretrained backbone conforms", async () => {
  const dir = await Deno.makeTempDir();
  await testBackbone(pretrainedBackbone, {
    params: { steps: 3, batchSize: 4, seqLen: 16, dModel: 16, nHeads: 2, dMlp: 32, nLayers: 1 },
    context: testContext(dir),
  });
});

Deno.test("two pretrains of one backbone at once: one trains, the other reads its checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const a: string[] = [];
  const b: string[] = [];
  const [first, second] = await Effect.runPromise(
    Effect.all([
      pretrain(testDomain, options, testContext(dir, a)),
      pretrain(testDomain, options, testContext(dir, b)),
    ], { concurrency: 2 }),
  );
  // Whether the second waits on the lock or finds the checkpoint already written depends on
  // timing; either way only one trains.
  const misses = [...a, ...b].filter((l) => l.includes("cache miss"));
  assert.equal(misses.length, 1, [...a, ...b].join("\n"));
  const reader = a.some((l) => l.includes("cache miss")) ? b : a;
  assert.ok(reader.some((l) => l.startsWith("pretrain: cache hit")), reader.join());
  assert.deepEqual(logitsOf(second), logitsOf(first));
  assert.deepEqual(
    [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".lock")),
    [],
  );
  first.dispose();
  second.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a pretrain waits while a live process holds the lock, then reads the checkpoint it wrote", async () => {
  const source = await Deno.makeTempDir();
  const made = await Effect.runPromise(pretrain(testDomain, options, testContext(source)));
  const entry = [...Deno.readDirSync(source)].map((e) => e.name)[0]!;
  const dir = await Deno.makeTempDir();
  // This process stands in for another one that is pretraining the same backbone.
  await Deno.writeTextFile(`${dir}/${entry}.lock`, String(Deno.pid));
  const lines: string[] = [];
  const waiting = Effect.runPromise(pretrain(testDomain, options, testContext(dir, lines)));
  while (!lines.some((l) => l.includes("is pretraining this backbone; waiting"))) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await Deno.copyFile(`${source}/${entry}`, `${dir}/${entry}`);
  await Deno.remove(`${dir}/${entry}.lock`);
  const model = await waiting;
  assert.ok(lines.some((l) => l.startsWith("pretrain: cache hit")), lines.join());
  assert.ok(!lines.some((l) => l.includes("cache miss")), lines.join());
  assert.deepEqual(logitsOf(model), logitsOf(made));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [entry]);
  made.dispose();
  model.dispose();
  await Deno.remove(source, { recursive: true });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a lock left by a dead process does not stop pretraining", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const probe = await Effect.runPromise(pretrain(testDomain, options, testContext(dir, lines)));
  const entry = [...Deno.readDirSync(dir)].map((e) => e.name)[0]!;
  await Deno.remove(`${dir}/${entry}`);
  // A process id above Linux's pid_max: no such process.
  await Deno.writeTextFile(`${dir}/${entry}.lock`, "2147483647");
  const again: string[] = [];
  const model = await Effect.runPromise(pretrain(testDomain, options, testContext(dir, again)));
  assert.ok(again.some((l) => l.includes("cache miss")), again.join());
  assert.deepEqual(logitsOf(model), logitsOf(probe));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [entry]);
  probe.dispose();
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});
