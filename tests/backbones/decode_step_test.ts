import "../_setup.ts";
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { setFusedDecoding } from "../../backbones/decode_step.ts";
import { setDecodeAttentionBlas } from "../../core/backend/decode_kernels.ts";
import { findBlas } from "../../core/backend/openblas.ts";
import { SymbolTokenizer } from "../../backbones/tokenizer.ts";
import {
  type ConfigOverrides,
  type Family,
  tinyConfig,
  Transformer,
} from "../../backbones/transformer.ts";
import type { GenerateOptions, Generation } from "../../core/plugin.ts";
import { testSymbols } from "./_domain.ts";

const tokenizer = new SymbolTokenizer(testSymbols);

function model(family: Family, overrides: ConfigOverrides, seed = 3): Transformer {
  const config = tinyConfig(family, tokenizer.vocabSize, {
    dModel: 16,
    nHeads: 4,
    dMlp: 32,
    contextLength: 40,
    ...overrides,
  });
  const m = new Transformer(config, { tokenizer, seed });
  // Larger weights and non-zero biases and norm scales, so that every term matters.
  tf.tidy(() => {
    m.variables.forEach((v, i) => {
      const wiggle = tf.mul(tf.sin(tf.add(tf.range(0, v.size), i)), 0.3);
      v.assign(
        v.shape.length === 2 ? tf.mul(v, 20) : tf.add(v, tf.reshape(wiggle, v.shape)),
      );
    });
  });
  return m;
}

// Left padding: rows of 4, 2 and 7 tokens.
const prompts = [[1, 5, 14, 6], [1, 9], [1, 4, 4, 4, 14, 7, 15]];

const variants: ReadonlyArray<[string, Family, ConfigOverrides]> = [
  ["gpt2, exact GELU", "gpt2", {}],
  ["gpt2, tanh GELU, tied head", "gpt2", { activation: "gelu_new", tieEmbeddings: true }],
  ["llama, grouped-query attention", "llama", { nKvHeads: 2 }],
  ["qwen2 (q/k/v bias), tied head", "llama", { nKvHeads: 1, qkvBias: true, tieEmbeddings: true }],
  [
    "llama with every bias",
    "llama",
    { nKvHeads: 2, qkvBias: true, outputBias: true, mlpBias: true },
  ],
];

async function run(
  m: Transformer,
  fused: boolean,
  options: GenerateOptions,
): Promise<Generation[]> {
  setFusedDecoding(fused);
  try {
    return await m.generate(prompts, options);
  } finally {
    setFusedDecoding("auto");
  }
}

function assertSame(fused: Generation[], plain: Generation[], what: string): void {
  assert.deepEqual(fused.map((g) => g.tokenIds), plain.map((g) => g.tokenIds), what);
  fused.forEach((g, i) =>
    g.logprobs.forEach((lp, j) => {
      const diff = Math.abs(lp - plain[i]!.logprobs[j]!);
      assert.ok(diff < 1e-4, `${what}: row ${i} token ${j} logprob differs by ${diff}`);
    })
  );
}

const attentionModes: ReadonlyArray<[string, boolean]> = findBlas() === null
  ? [["JavaScript attention", false]]
  : [["JavaScript attention", false], ["OpenBLAS layer kernel", true]];

for (const [name, family, overrides] of variants) {
  for (const [mode, blas] of attentionModes) {
    Deno.test(`fused decoding (${name}; ${mode}): same tokens and logprobs as the plain path on cpu`, async () => {
      const m = model(family, overrides);
      setDecodeAttentionBlas(blas);
      try {
        const before = tf.memory().numTensors;
        for (
          const options of [
            { maxNewTokens: 12, temperature: 0 },
            { maxNewTokens: 12, temperature: 1, seed: 5 },
            { maxNewTokens: 9, temperature: 0.7, topP: 0.9, seed: 8 },
          ]
        ) {
          assertSame(
            await run(m, true, options),
            await run(m, false, options),
            JSON.stringify(options),
          );
        }
        assert.equal(tf.memory().numTensors, before, "decoding leaked tensors");
      } finally {
        setDecodeAttentionBlas(true);
        m.dispose();
      }
    });
  }
}

Deno.test("fused decoding: every step's logits match the plain step's to 1e-4 (prompt block and tokens)", () => {
  for (const [name, family, overrides] of variants) {
    for (const [, blas] of attentionModes) {
      setDecodeAttentionBlas(blas);
      setFusedDecoding(true);
      const m = model(family, overrides);
      const width = 7;
      const firstKey = prompts.map((p) => width - p.length);
      const rows = prompts.map((p, b) => [...new Array(firstKey[b]).fill(0), ...p]);
      const session = m.openSession(firstKey, width + 3)!;
      assert.ok(session !== undefined);
      let cache = undefined as ReturnType<Transformer["step"]>["cache"] | undefined;
      try {
        for (let step = 0; step < 4; step++) {
          const from = step === 0 ? 0 : rows[0]!.length - 1;
          const tokens = rows.map((r) => r.slice(from));
          const positions = rows.map((r, b) =>
            r.slice(from).map((_, j) => Math.max(0, from + j - firstKey[b]!))
          );
          const fused = session.step(tokens, positions);
          const plain = m.step(tokens, positions, firstKey, cache);
          cache?.dispose();
          cache = plain.cache;
          const expected = plain.logits.dataSync();
          plain.logits.dispose();
          let worst = 0;
          for (let i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs(fused[i]! - expected[i]!));
          }
          assert.ok(
            worst < 1e-4,
            `${name} (blas ${blas}), step ${step}: logits differ by ${worst}`,
          );
          rows.forEach((r, b) => r.push((step * 7 + b * 3) % tokenizer.vocabSize));
        }
        assert.throws(
          () => session.step(rows.map((r) => r.slice(-1)), rows.map(() => [9])),
          RangeError,
        );
      } finally {
        cache?.dispose();
        session.dispose();
        m.dispose();
        setFusedDecoding("auto");
        setDecodeAttentionBlas(true);
      }
    }
  }
});

Deno.test("fused decoding: off by default on cpu, and setFusedDecoding(false) turns it off", () => {
  const m = model("gpt2", {});
  try {
    assert.equal(m.openSession([0], 4), undefined);
    setFusedDecoding(true);
    const s = m.openSession([0], 4);
    assert.ok(s !== undefined);
    s.dispose();
    setFusedDecoding(false);
    assert.equal(m.openSession([0], 4), undefined);
  } finally {
    setFusedDecoding("auto");
    m.dispose();
  }
});
