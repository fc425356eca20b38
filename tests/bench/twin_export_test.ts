// The PyTorch twin's export (bench/twin_export.ts) holds exactly what probsft trains and
// evaluates on: for every SFT cell and every step, the rows the twin builds from the export
// (inputs ids[:-1], targets ids[1:], mask mask[1:], right-padded) equal probsft's training batch
// (`makeBatch(batchPairs(encodePairs(…)))` with the backbone's own tokenizer), and the prompts
// equal `encodeQuery`'s.
import "../_setup.ts";
import assert from "node:assert/strict";
import { Effect } from "effect";
import { loadPreset } from "../../commands/experiment.ts";
import { registryWith } from "../../commands/registry_with.ts";
import { planCells } from "../../core/plan.ts";
import type { LanguageModel } from "../../core/plugin.ts";
import { encodePairs, encodeQuery, makeBatch } from "../../core/sft_batches.ts";
import { batchPairs } from "../../core/train.ts";
import { exportTwin, type TwinBase, type TwinCell, twinFormat } from "../../bench/twin_export.ts";
import type { Transformer } from "../../backbones/transformer.ts";
import { tinyToy } from "./_tiny_toy.ts";

/** The batch the twin builds from exported rows (bench/torch_experiment.py's pad_rows). */
function twinBatch(rows: ReadonlyArray<{ ids: number[]; mask: number[] }>, pad: number) {
  const time = Math.max(...rows.map((r) => r.ids.length - 1));
  const inputs = new Int32Array(rows.length * time).fill(pad);
  const targets = new Int32Array(rows.length * time).fill(pad);
  const mask = new Float32Array(rows.length * time);
  rows.forEach((row, r) => {
    for (let t = 0; t < row.ids.length - 1; t++) {
      inputs[r * time + t] = row.ids[t]!;
      targets[r * time + t] = row.ids[t + 1]!;
      mask[r * time + t] = row.mask[t + 1]!;
    }
  });
  return { time, inputs, targets, mask };
}

Deno.test("exportTwin: the exported SFT rows and prompts are exactly probsft's batches and queries", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probsft-twin-export-" });
  try {
    const { config, source } = await Effect.runPromise(loadPreset("toy", tinyToy));
    const registry = await Effect.runPromise(registryWith([]));
    const summary = await Effect.runPromise(exportTwin(config, source, registry, dir));
    const read = async <T>(name: string) =>
      JSON.parse(await Deno.readTextFile(`${dir}/${name}`)) as T;
    const manifest = await read<{ format: string; cells: TwinCell[] }>("manifest.json");
    assert.equal(manifest.format, twinFormat);
    const cells = await Effect.runPromise(planCells(config, source, registry));
    assert.equal(manifest.cells.length, cells.length);
    assert.equal(summary.cells, cells.length);
    let checkedSteps = 0;
    for (const [i, cell] of cells.entries()) {
      const exported = manifest.cells[i]!;
      assert.equal(exported.key, cell.key);
      const fixed = await Effect.runPromise(cell.domainPart.part.load(cell.domainPart.params, 0));
      const sftData = await Effect.runPromise(
        cell.domainPart.part.load(cell.domainPart.params, cell.seed),
      );
      // The backbone as the experiment builds it (0 pretraining steps: the same tokenizer and
      // config without the pretraining).
      const model = await Effect.runPromise(
        Effect.scoped(cell.backbonePart.part.make(
          { ...(cell.backbonePart.params as object), steps: 0 },
          { seed: cell.baseSeed, domain: fixed, cacheDir: dir, log: () => {} },
        )),
      ) as LanguageModel;
      try {
        const base = await read<TwinBase>(exported.base);
        assert.deepEqual(base.config, (model as Transformer).config);
        assert.deepEqual(exported.eosIds, [model.tokenizer.eosId]);
        const evaluation = await read<{ sets: Array<{ name: string; prompts: number[][] }> }>(
          exported.eval,
        );
        for (const set of fixed.benchmarks) {
          const prompts = evaluation.sets.find((s) => s.name === set.name)!.prompts;
          assert.deepEqual(
            prompts,
            set.examples.map((e) => encodeQuery(model.tokenizer, e.prompt, e.messages)),
          );
        }
        if (!cell.objective) continue;
        const pairs = encodePairs(sftData.sft, model.tokenizer, model.contextLength, "test");
        const file = await read<{ pairs: Array<{ ids: number[]; mask: number[] }> }>(
          exported.sft!,
        );
        assert.equal(exported.order!.length, cell.train.steps);
        for (let step = 0; step < cell.train.steps; step++) {
          const ours = makeBatch(
            batchPairs(pairs, cell.train.batchSize, cell.seed, step),
            model.tokenizer.padId,
          );
          const theirs = twinBatch(
            exported.order![step]!.map((k) => file.pairs[k]!),
            exported.padId,
          );
          assert.equal(theirs.time, ours.time, `${cell.key} step ${step}: time`);
          assert.deepEqual(theirs.inputs, ours.inputs, `${cell.key} step ${step}: inputs`);
          assert.deepEqual(theirs.targets, ours.targets, `${cell.key} step ${step}: targets`);
          assert.deepEqual(theirs.mask, ours.mask, `${cell.key} step ${step}: mask`);
          checkedSteps += 1;
        }
        // Completion-only: the prompt's targets are never supervised.
        const first = file.pairs[0]!;
        assert.ok(first.mask.some((m) => m === 0) && first.mask.some((m) => m === 1));
      } finally {
        model.dispose();
      }
    }
    assert.ok(checkedSteps >= 2 * 10 * 3 + 2 * 20 * 2, `steps checked: ${checkedSteps}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
