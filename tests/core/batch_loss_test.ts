/**
 * The chunked LM head and loss (core/batch_loss.ts) against the unchunked path: the same value
 * and the same gradient for every weight, for every built-in objective (the stochastic `otr`
 * draws per chunk and is compared on its deterministic part only: value and gradient with the
 * same chunking of its draws are not defined against the unchunked path), on uneven chunks,
 * masked positions and a tied head; and the tensor count stays flat.
 */
import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { SymbolTokenizer } from "../../backbones/tokenizer.ts";
import { tinyConfig, Transformer } from "../../backbones/transformer.ts";
import { batchLoss, type BatchTensors } from "../../core/batch_loss.ts";
import { makeRegistry } from "../../core/registry.ts";
import { builtins } from "../../plugins/builtins.ts";
import { testSymbols } from "../backbones/_domain.ts";

const registry = Effect.runSync(makeRegistry([builtins]));

/** Params for the objectives that need some; τ near the random model's p splits its tokens. */
const params: Record<string, unknown> = {
  "general-family": { alpha: 0.5 },
  "neg-prob-power": { alpha: 10 },
  "thresholded-neg-log-prob": { tau: 0.035 },
  "thresholded-neg-prob": { tau: 0.035 },
  "thresholded-log-one-minus-prob": { tau: 0.035 },
  gft: { tau: 0.035 },
};

function model(tied: boolean): Transformer {
  const tokenizer = new SymbolTokenizer(testSymbols);
  const config = tinyConfig("llama", tokenizer.vocabSize, {
    dModel: 16,
    nHeads: 2,
    nLayers: 1,
    dMlp: 24,
    tieEmbeddings: tied,
  });
  return new Transformer(config, { tokenizer, seed: 3 });
}

function batch(vocab: number): BatchTensors {
  const rows = 3;
  const time = 7;
  const ids = Array.from({ length: rows * time }, (_, i) => (i * 7 + 3) % vocab);
  const targets = Array.from({ length: rows * time }, (_, i) => (i * 5 + 1) % vocab);
  // Uneven supervision: a fully masked row and a partly masked one.
  const mask = Array.from({ length: rows * time }, (_, i) => (i < time ? 0 : i % 3 === 0 ? 0 : 1));
  return {
    inputs: tf.tensor2d(ids, [rows, time], "int32"),
    targets: tf.tensor2d(targets, [rows, time], "int32"),
    mask: tf.tensor2d(mask, [rows, time], "float32"),
  };
}

function lossAndGrads(
  m: Transformer,
  reference: Transformer,
  b: BatchTensors,
  objective: { part: unknown; params: unknown },
  chunkPositions: number,
): { values: number[]; grads: Float32Array[] } {
  return tf.tidy(() => {
    let diagnostics: number[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const r = batchLoss(m, b, {
        objective: objective.part as never,
        params: objective.params,
        reference,
        seed: 5,
        chunkPositions,
      });
      diagnostics = [r.nll, r.meanP, r.maskedShare, r.tokens, r.kept].map((t) => t.dataSync()[0]!);
      return r.loss;
    }, [...m.variables]);
    return {
      values: [value.dataSync()[0]!, ...diagnostics],
      grads: m.variables.map((v) => grads[v.name]!.dataSync() as Float32Array),
    };
  });
}

Deno.test("chunked head and loss: same value and gradients as unchunked, every objective", () => {
  for (const tied of [false, true]) {
    const m = model(tied);
    const reference = model(!tied).snapshot();
    const b = batch(m.vocabSize);
    const before = tf.memory().numTensors;
    for (const objective of builtins.objectives!) {
      if (objective.id === "otr") continue; // draws per chunk (see the module documentation)
      const resolved = Effect.runSync(
        registry.objective({ id: objective.id, params: params[objective.id] ?? {} }, "test"),
      );
      const whole = lossAndGrads(m, reference, b, resolved, 0);
      for (const chunk of [4, 5, 20]) {
        const parts = lossAndGrads(m, reference, b, resolved, chunk);
        whole.values.forEach((v, i) =>
          assert.ok(
            Math.abs(v - parts.values[i]!) <= 1e-5 * Math.max(1, Math.abs(v)),
            `${objective.id} chunk ${chunk} value ${i}: ${v} vs ${parts.values[i]}`,
          )
        );
        whole.grads.forEach((g, k) => {
          let worst = 0;
          g.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - parts.grads[k]![i]!))));
          assert.ok(
            worst <= 1e-5,
            `${objective.id} (tied ${tied}) chunk ${chunk}: weight ${k} differs by ${worst}`,
          );
        });
      }
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    tf.dispose([b.inputs, b.targets, b.mask]);
    reference.dispose();
    m.dispose();
  }
});

Deno.test("recomputed blocks (all, or the first one of two): same value and gradients as kept activations (llama and gpt2)", () => {
  for (const family of ["llama", "gpt2"] as const) {
    const tokenizer = new SymbolTokenizer(testSymbols);
    const m = new Transformer(
      tinyConfig(family, tokenizer.vocabSize, { dModel: 16, nHeads: 2, nLayers: 2, dMlp: 24 }),
      { tokenizer, seed: 4 },
    );
    const b = batch(m.vocabSize);
    const reference = m.snapshot();
    const before = tf.memory().numTensors;
    for (const id of ["neg-log-prob", "neg-prob", "anchored"]) {
      const resolved = Effect.runSync(registry.objective({ id }, "test"));
      const run = (recompute: boolean | number, chunkPositions: number) =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(
            () =>
              batchLoss(m, b, {
                objective: resolved.part as never,
                params: resolved.params,
                reference,
                seed: 5,
                chunkPositions,
                recompute,
              }).loss,
            [...m.variables],
          );
          return {
            value: value.dataSync()[0]!,
            grads: m.variables.map((v) => grads[v.name]!.dataSync() as Float32Array),
          };
        });
      const kept = run(false, 0);
      for (const [recompute, chunk] of [[true, 0], [true, 6], [1, 0], [1, 6]] as const) {
        const again = run(recompute, chunk);
        assert.ok(Math.abs(kept.value - again.value) <= 1e-5, `${family} ${id}: value`);
        kept.grads.forEach((g, k) => {
          let worst = 0;
          g.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - again.grads[k]![i]!))));
          assert.ok(
            worst <= 1e-5,
            `${family} ${id} recompute ${recompute} chunk ${chunk}: weight ${k} differs by ${worst}`,
          );
        });
      }
    }
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    tf.dispose([b.inputs, b.targets, b.mask]);
    reference.dispose();
    m.dispose();
  }
});
