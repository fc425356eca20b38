/**
 * A tiny transformer for generation tests, with weights scaled up so that its next-token
 * distribution is far from uniform (sampling and greedy then differ, and every term matters).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { SymbolTokenizer } from "../../backbones/tokenizer.ts";
import {
  type ConfigOverrides,
  type Family,
  tinyConfig,
  Transformer,
} from "../../backbones/transformer.ts";
import { testSymbols } from "./_domain.ts";

/** The tokenizer of {@link sharpModel}. */
export const testTokenizer: SymbolTokenizer = new SymbolTokenizer(testSymbols);

/**
 * d_model 16, 4 heads (2 key/value heads for llama), MLP 32, context 40, then `overrides`; every
 * matrix multiplied by 20.
 *
 * @param family The model family.
 * @param seed The initialization seed.
 * @param overrides Config changes.
 * @returns The model (dispose it).
 */
export function sharpModel(
  family: Family,
  seed: number,
  overrides: ConfigOverrides = {},
): Transformer {
  const config = tinyConfig(family, testTokenizer.vocabSize, {
    dModel: 16,
    nHeads: 4,
    nKvHeads: family === "llama" ? 2 : 4,
    dMlp: 32,
    contextLength: 40,
    ...overrides,
  });
  const m = new Transformer(config, { tokenizer: testTokenizer, seed });
  tf.tidy(() => {
    for (const v of m.variables) if (v.shape.length === 2) v.assign(tf.mul(v, 20));
  });
  return m;
}
