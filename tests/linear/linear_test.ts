import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import assert from "node:assert/strict";
import { linearSoftmaxBackbone } from "../../backbones/linear_softmax.ts";
import {
  generateTeacher,
  teacher,
  teacherFeatures,
  teacherLabels,
  type TeacherParams,
  teacherWeights,
} from "../../benchmarks/teacher/linear_teacher.ts";
import type { ExperimentConfig } from "../../core/config.ts";
import type { BackboneContext, DomainData, LanguageModel } from "../../core/plugin.ts";
import { makeRegistry } from "../../core/registry.ts";
import { runExperiment } from "../../core/runner.ts";
import { encodePairs } from "../../core/sft_batches.ts";
import { probe } from "../../core/probe.ts";
import { testBackbone, testDomain } from "../../core/testing.ts";
import { builtins } from "../../plugins/builtins.ts";

const small: TeacherParams = {
  dim: 8,
  labels: 5,
  sftExamples: 200,
  testItems: 40,
  corpusDocuments: 100,
  labelNoise: 0.3,
  teacherScale: 3,
  samples: 2,
  teacherSeed: 7,
  featureSeed: 11,
};

function context(domain: DomainData, cacheDir: string): BackboneContext {
  return { seed: 0, domain, cacheDir, log() {} };
}

function build(params: unknown, domain: DomainData, cacheDir: string): Promise<LanguageModel> {
  return Effect.runPromise(
    linearSoftmaxBackbone.make(
      params as Parameters<typeof linearSoftmaxBackbone.make>[0],
      context(domain, cacheDir),
    ),
  );
}

const full = {
  capability: 0,
  initStd: 1,
  pretrainSteps: 0,
  lr: 0.1,
  batchSize: 32,
  contextLength: 8,
};

Deno.test("teacher domain passes the conformance kit", async () => {
  await testDomain(teacher, { params: { sftExamples: 300, testItems: 50, corpusDocuments: 50 } });
});

Deno.test("teacher: flips exactly the noisy labels, disjoint points, seed moves only the noise", () => {
  const a = generateTeacher(small, 0);
  const b = generateTeacher(small, 1);
  assert.deepEqual(a.symbols, b.symbols, "the symbol inventory must not depend on the seed");
  assert.deepEqual(a.priorCorpus, b.priorCorpus);
  assert.deepEqual(a.sft.map((e) => e.prompt), b.sft.map((e) => e.prompt));
  assert.notDeepEqual(a.sft.map((e) => e.response), b.sft.map((e) => e.response));
  const total = small.testItems + small.corpusDocuments + small.sftExamples;
  const truth = teacherLabels(
    teacherFeatures(small.featureSeed, small.dim, total),
    teacherWeights(small.teacherSeed, small.dim, small.labels, small.teacherScale),
    small.dim,
    small.labels,
  );
  const flipped = a.sft.filter((e) => e.response !== `y${truth[Number(e.prompt.slice(1))]}`);
  const rate = flipped.length / a.sft.length;
  assert.ok(rate > 0.2 && rate < 0.4, `noise rate ${rate}`);
  const test = new Set(a.benchmarks[0]!.examples.map((e) => e.prompt));
  const corpus = new Set(a.priorCorpus.map((d) => d.split(" ")[0]));
  for (const e of a.sft) assert.ok(!test.has(e.prompt) && !corpus.has(e.prompt));
  for (const x of corpus) assert.ok(!test.has(x!));
  const clean = generateTeacher({ ...small, labelNoise: 0 }, 0);
  for (const e of clean.sft) assert.equal(e.response, `y${truth[Number(e.prompt.slice(1))]}`);
});

Deno.test("teacherFeatures(): a row does not depend on how many rows are drawn", () => {
  const few = teacherFeatures(3, 16, 4);
  const many = teacherFeatures(3, 16, 40);
  assert.deepEqual(many.slice(0, few.length), few);
  const variance = many.reduce((s, x) => s + x * x, 0) / many.length;
  assert.ok(Math.abs(variance - 1 / 16) < 0.02, `variance ${variance}`);
});

Deno.test("linear-softmax passes the conformance kit (random init, capability, pretrained)", async () => {
  const domain = generateTeacher(small, 0);
  const cacheDir = await Deno.makeTempDir();
  try {
    for (const params of [{}, { capability: 2 }, { pretrainSteps: 5, batchSize: 8 }]) {
      await testBackbone(linearSoftmaxBackbone, { params, context: context(domain, cacheDir) });
    }
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("linear-softmax: logits are Wᵀx + b over the labels after an input, <eos> after the rest", async () => {
  const domain = generateTeacher(small, 0);
  const model = await build({ ...full, capability: 1 }, domain, "unused");
  try {
    const x = model.tokenizer.encode("x3")[0]!;
    const y0 = model.tokenizer.encode("y0")[0]!;
    const [w, b] = model.variables.map((v) => v.arraySync()) as [number[][], number[]];
    const feature = teacherFeatures(small.featureSeed, small.dim, 4).slice(3 * small.dim);
    const logits = tf.tidy(() =>
      model.logits(tf.tensor2d([[model.tokenizer.bosId!, x, y0]], [1, 3], "int32"))
        .arraySync() as number[][][]
    );
    for (let j = 0; j < small.labels; j++) {
      let z = b[j]!;
      for (let k = 0; k < small.dim; k++) z += w[k]![j]! * feature[k]!;
      assert.ok(Math.abs(logits[0]![1]![y0 + j]! - z) < 1e-4);
    }
    const probs = tf.tidy(() => tf.softmax(tf.tensor(logits)).arraySync() as number[][][]);
    for (const t of [0, 2]) assert.equal(probs[0]![t]![model.tokenizer.eosId], 1);
    assert.equal(probs[0]![1]!.slice(0, y0).reduce((s, p) => s + p, 0), 0);
    // Greedy decoding answers the argmax label, then stops at <eos>.
    const best = logits[0]![1]!.indexOf(Math.max(...logits[0]![1]!));
    const [g] = await model.generate([[model.tokenizer.bosId!, x]], {
      maxNewTokens: 2,
      temperature: 0,
    });
    assert.deepEqual(g!.tokenIds, [best]);
  } finally {
    model.dispose();
  }
});

Deno.test("linear-softmax: capability moves mean label p from about 1/V upwards; builds are deterministic", async () => {
  const domain = generateTeacher({ ...small, labels: 20, dim: 16, labelNoise: 0 }, 0);
  const labelMeanP = async (capability: number) => {
    const model = await build({ ...full, capability }, domain, "unused");
    try {
      const pairs = encodePairs(domain.sft, model.tokenizer, model.contextLength, "test");
      // The domain marks the <eos> target (p = 1 by construction) as forced: the probe's mean p
      // is the labels' own.
      const { result } = probe(model, pairs);
      assert.equal(result.forced.tokens, pairs.length);
      assert.ok(Math.abs(result.forced.meanP - 1) < 1e-6);
      assert.ok(Math.abs(result.allTargets.meanP - (result.meanP + 1) / 2) < 1e-6);
      return result.meanP;
    } finally {
      model.dispose();
    }
  };
  const weak = await labelMeanP(0);
  const strong = await labelMeanP(3);
  assert.ok(weak < 0.15, `weak mean p ${weak}`);
  assert.ok(strong > 0.6, `strong mean p ${strong}`);
  assert.equal(await labelMeanP(3), strong);
});

Deno.test("the probe places the linear preset's c = 0 model-weak and c = 3 no higher than intermediate", async () => {
  const preset = JSON.parse(await Deno.readTextFile("presets/linear.json"));
  const domainChoice = preset.domains[0];
  const params = Effect.runSync(
    Schema.decodeUnknownEffect(teacher.params)(domainChoice.params ?? {}),
  ) as TeacherParams;
  assert.equal(params.labelNoise, 0.3);
  const domain = generateTeacher(params, 0);
  const placed = new Map<string, string>();
  for (const backbone of domainChoice.backbones as Array<{ label: string; params: unknown }>) {
    const model = await build({ ...full, ...(backbone.params as object) }, domain, "unused");
    try {
      const pairs = encodePairs(domain.sft, model.tokenizer, model.contextLength, "linear");
      const { result } = probe(model, pairs);
      assert.equal(result.pairs.read, params.sftExamples);
      console.log(
        `${backbone.label}: label mean p ${result.meanP.toFixed(3)} (Eq. 5 over every target ${
          result.allTargets.meanP.toFixed(3)
        }), share ${result.shareAbove055.toFixed(3)}: ${result.regime}, ${
          result.cutoffDistance.toFixed(3)
        } from ${result.nearestCutoff}`,
      );
      placed.set(backbone.label, result.regime);
    } finally {
      model.dispose();
    }
  }
  assert.equal(placed.get("c=0"), "model-weak");
  assert.notEqual(placed.get("c=3"), "model-strong");
});

Deno.test("linear-softmax: sampling is seeded, useCache does not change it, and pretraining is cached", async () => {
  const domain = generateTeacher(small, 0);
  const cacheDir = await Deno.makeTempDir();
  try {
    const params = { ...full, pretrainSteps: 20, batchSize: 16 };
    const first = await build(params, domain, cacheDir);
    const entries = [...Deno.readDirSync(cacheDir)].length;
    const second = await build(params, domain, cacheDir);
    assert.equal([...Deno.readDirSync(cacheDir)].length, entries);
    try {
      assert.deepEqual(second.variables[0]!.arraySync(), first.variables[0]!.arraySync());
      const prompts = domain.benchmarks[0]!.examples.map((e) => [
        first.tokenizer.bosId!,
        ...first.tokenizer.encode(e.prompt),
      ]);
      const options = { maxNewTokens: 2, temperature: 1, seed: 5 };
      const a = await first.generate(prompts, options);
      const b = await first.generate(prompts, { ...options, useCache: false });
      const c = await second.generate(prompts, options);
      assert.deepEqual(a, b);
      assert.deepEqual(a, c);
      const other = await first.generate(prompts, { ...options, seed: 6 });
      assert.notDeepEqual(a.map((g) => g.text), other.map((g) => g.text));
    } finally {
      first.dispose();
      second.dispose();
    }
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("runExperiment() runs a shrunken linear grid and is repeatable", async () => {
  const registry = Effect.runSync(makeRegistry([builtins]));
  const config: ExperimentConfig = {
    name: "linear-small",
    seeds: [0],
    objectives: [{ id: "neg-log-prob" }, { id: "neg-prob" }],
    train: { batchSize: 50, learningRate: 0.1, checkpointEvery: 100 },
    evaluation: { batchSize: 100 },
    domains: [{
      id: "teacher",
      params: { sftExamples: 400, testItems: 100, corpusDocuments: 10, samples: 2 },
      backbones: [
        { id: "linear-softmax", params: { capability: 0 }, label: "c=0" },
        { id: "linear-softmax", params: { capability: 3 }, label: "c=3" },
      ],
    }],
  };
  const out = await Deno.makeTempDir();
  try {
    const quiet = { cell() {}, step() {}, log() {} };
    const run = (dir: string) =>
      Effect.runPromise(
        runExperiment({
          config,
          source: "test",
          out: dir,
          cacheDir: `${dir}/cache`,
          registry,
          progress: quiet,
        }),
      );
    const before = tf.memory().numTensors;
    const results = await run(`${out}/a`);
    assert.equal(tf.memory().numTensors, before, "tensors leaked across a run");
    assert.equal(results.failures.length, 0, JSON.stringify(results.failures));
    assert.equal(results.cells.length, 2 * (1 + 2));
    for (const cell of results.cells) {
      assert.equal(cell.primaryKey, "teacher-test/greedy");
      assert.ok(cell.primary >= 0 && cell.primary <= 1);
      assert.ok(Number.isFinite(cell.scores["teacher-test/avg@2"]!));
    }
    const base = (label: string) =>
      results.cells.find((c) => c.backbone.label === label && c.objective.id === "base")!;
    assert.ok(base("c=0").probe.meanP < base("c=3").probe.meanP);
    assert.ok(base("c=0").primary < base("c=3").primary);
    const again = await run(`${out}/b`);
    assert.deepEqual(again.cells.map((c) => c.scores), results.cells.map((c) => c.scores));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
