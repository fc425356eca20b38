/**
 * `saveModels`: each fine-tuned model of an experiment is written as a Hugging Face folder that
 * loads back to the model that was evaluated (its probe on the SFT data gives the cell's
 * post-SFT mean p exactly), and switching it on leaves the keys of runs without it unchanged.
 */
import "../_setup.ts";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { loadHf } from "../../backbones/hf.ts";
import type { ExperimentConfig } from "../../core/config.ts";
import { planCells } from "../../core/plan.ts";
import { probe } from "../../core/probe.ts";
import { makeRegistry } from "../../core/registry.ts";
import { runExperiment } from "../../core/runner.ts";
import { encodePairs } from "../../core/sft_batches.ts";
import { builtins } from "../../plugins/builtins.ts";

const registry = Effect.runSync(makeRegistry([builtins]));
const quiet = { cell() {}, step() {}, log() {} };

const config: ExperimentConfig = {
  name: "save",
  seeds: [0],
  objectives: [{ id: "neg-prob" }],
  train: { batchSize: 8, steps: 4 },
  evaluation: { batchSize: 16, maxItems: 4 },
  baseline: false,
  domains: [{
    id: "math",
    params: { sftExamples: 32, testItems: 4, samples: 1, corpusDocuments: 8 },
    backbones: [{ id: "transformer", params: { dModel: 16, nLayers: 1, nHeads: 2, dMlp: 32 } }],
  }],
};

Deno.test("saveModels writes each fine-tuned model as a folder that reloads to the evaluated model", async () => {
  const out = await Deno.makeTempDir();
  const results = await Effect.runPromise(
    runExperiment({
      config: { ...config, saveModels: true },
      source: "test",
      out,
      cacheDir: `${out}/cache`,
      registry,
      progress: quiet,
    }),
  );
  assert.equal(results.failures.length, 0);
  const cell = results.cells[0]!;
  const model = await Effect.runPromise(loadHf(`${out}/models/${cell.key}`));
  const domain = await Effect.runPromise(registry.domain(config.domains[0]!, "test"));
  const data = await Effect.runPromise(domain.part.load(domain.params, 0));
  const pairs = encodePairs(data.sft, model.tokenizer, model.contextLength, "math");
  assert.equal(probe(model, pairs).result.allTargets.meanP, cell.meanPAfter);
  model.dispose();
  await Deno.remove(out, { recursive: true });
});

Deno.test("saveModels changes cell keys only when on", async () => {
  const keys = async (c: ExperimentConfig) =>
    (await Effect.runPromise(planCells(c, "test", registry))).map((cell) => cell.key);
  assert.deepEqual(await keys({ ...config, saveModels: false }), await keys(config));
  assert.notDeepEqual(await keys({ ...config, saveModels: true }), await keys(config));
});
