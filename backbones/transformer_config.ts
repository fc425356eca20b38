/**
 * The sizes and switches of a decoder-only transformer ({@link TransformerConfig}), the tiny
 * preset, the checks, and the list of weights with their Hugging Face names
 * ({@link weightSpecs}). Pure data: no tensors, so the Hugging Face reader and writer and the
 * model itself all depend on it and not on each other.
 *
 * @module
 */
import type { Recompute } from "../core/plugin.ts";
/** The two supported families. */
export type Family = "llama" | "gpt2";

/** The MLP activation: exact GELU, GPT-2's tanh GELU, or SiLU (SwiGLU gate). */
export type Activation = "gelu" | "gelu_new" | "silu";

/** The sizes and switches of a transformer. */
export interface TransformerConfig {
  /** The family: `llama` (RMSNorm, RoPE, SwiGLU) or `gpt2` (LayerNorm, learned positions). */
  readonly family: Family;
  /** The Hugging Face architecture written on save. */
  readonly architecture: "LlamaForCausalLM" | "Qwen2ForCausalLM" | "GPT2LMHeadModel";
  /** Vocabulary size (rows of the embedding and of the head). */
  readonly vocabSize: number;
  /** Longest sequence (learned positions for `gpt2`; `max_position_embeddings` for `llama`). */
  readonly contextLength: number;
  /** Width of the residual stream. */
  readonly dModel: number;
  /** Number of blocks. */
  readonly nLayers: number;
  /** Number of query heads. */
  readonly nHeads: number;
  /** Number of key/value heads (divides `nHeads`; equal for `gpt2`). */
  readonly nKvHeads: number;
  /** Size of one head. */
  readonly headDim: number;
  /** Hidden size of the MLP. */
  readonly dMlp: number;
  /** Epsilon of the norms. */
  readonly normEps: number;
  /** Rotary base (`llama` only). */
  readonly ropeTheta: number;
  /** The head reuses the token embedding. */
  readonly tieEmbeddings: boolean;
  /** Bias on the q, k and v projections (`llama` family; Qwen2 has it). */
  readonly qkvBias: boolean;
  /** Bias on the attention output projection (`llama` family). */
  readonly outputBias: boolean;
  /** Biases in the MLP (`llama` family). */
  readonly mlpBias: boolean;
  /** The MLP activation. */
  readonly activation: Activation;
}

/** Sizes a preset leaves open. */
export type ConfigOverrides = Partial<Omit<TransformerConfig, "family" | "architecture">>;

/**
 * The tiny preset for CPU runs (reference/miniature.md §3): 2 layers, d 64, 4 heads, MLP 256,
 * untied head; `gpt2` has learned positions and exact GELU, `llama` RoPE and SwiGLU.
 *
 * @param family The family.
 * @param vocabSize The vocabulary size.
 * @param overrides Sizes that replace the preset's.
 * @returns A complete config.
 */
export function tinyConfig(
  family: Family,
  vocabSize: number,
  overrides: ConfigOverrides = {},
): TransformerConfig {
  const dModel = overrides.dModel ?? 64;
  const nHeads = overrides.nHeads ?? 4;
  const config: TransformerConfig = {
    family,
    architecture: family === "gpt2" ? "GPT2LMHeadModel" : "LlamaForCausalLM",
    vocabSize,
    contextLength: 128,
    dModel,
    nLayers: 2,
    nHeads,
    nKvHeads: nHeads,
    headDim: dModel / nHeads,
    dMlp: 256,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: false,
    qkvBias: false,
    outputBias: false,
    mlpBias: false,
    activation: family === "gpt2" ? "gelu" : "silu",
    ...overrides,
  };
  return { ...config, headDim: overrides.headDim ?? config.dModel / config.nHeads };
}

/**
 * Checks a config's sizes; throws a `RangeError` naming the field.
 *
 * @param config The config.
 */
export function checkConfig(config: TransformerConfig): void {
  const positive = [
    "vocabSize",
    "contextLength",
    "dModel",
    "nLayers",
    "nHeads",
    "nKvHeads",
    "headDim",
    "dMlp",
  ] as const;
  for (const key of positive) {
    const value = config[key];
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`Transformer config ${key} must be a positive integer, got ${value}`);
    }
  }
  if (config.nHeads % config.nKvHeads !== 0) {
    throw new RangeError(
      `Transformer config nKvHeads (${config.nKvHeads}) must divide nHeads (${config.nHeads})`,
    );
  }
  if (config.family === "gpt2" && config.nHeads * config.headDim !== config.dModel) {
    throw new RangeError(
      `Transformer config nHeads (${config.nHeads}) must divide dModel (${config.dModel}) for gpt2`,
    );
  }
  if (config.family === "llama" && config.headDim % 2 !== 0) {
    throw new RangeError(
      `Transformer config headDim must be even for rotary, got ${config.headDim}`,
    );
  }
}

/** How a weight is created and how it is stored in the Hugging Face layout. */
export interface WeightSpec {
  /** The Hugging Face tensor name. */
  readonly name: string;
  /** The shape kept here (dense weights `[in, out]`). */
  readonly shape: ReadonlyArray<number>;
  /** Initialisation: N(0, 0.02²), zeros or ones. */
  readonly init: "normal" | "zeros" | "ones";
  /** The Hugging Face file stores the transpose (`nn.Linear` weights, `[out, in]`). */
  readonly transposed: boolean;
}

/**
 * The weights of a config, in a fixed order, with their Hugging Face names.
 *
 * @param config The config.
 * @returns One spec per weight.
 */
export function weightSpecs(config: TransformerConfig): WeightSpec[] {
  const { dModel: d, dMlp: m, vocabSize: v } = config;
  const specs: WeightSpec[] = [];
  const add = (
    name: string,
    shape: number[],
    init: WeightSpec["init"],
    transposed = false,
  ) => specs.push({ name, shape, init, transposed });
  if (config.family === "gpt2") {
    add("transformer.wte.weight", [v, d], "normal");
    add("transformer.wpe.weight", [config.contextLength, d], "normal");
    for (let i = 0; i < config.nLayers; i++) {
      const p = `transformer.h.${i}.`;
      add(`${p}ln_1.weight`, [d], "ones");
      add(`${p}ln_1.bias`, [d], "zeros");
      add(`${p}attn.c_attn.weight`, [d, 3 * d], "normal");
      add(`${p}attn.c_attn.bias`, [3 * d], "zeros");
      add(`${p}attn.c_proj.weight`, [d, d], "normal");
      add(`${p}attn.c_proj.bias`, [d], "zeros");
      add(`${p}ln_2.weight`, [d], "ones");
      add(`${p}ln_2.bias`, [d], "zeros");
      add(`${p}mlp.c_fc.weight`, [d, m], "normal");
      add(`${p}mlp.c_fc.bias`, [m], "zeros");
      add(`${p}mlp.c_proj.weight`, [m, d], "normal");
      add(`${p}mlp.c_proj.bias`, [d], "zeros");
    }
    add("transformer.ln_f.weight", [d], "ones");
    add("transformer.ln_f.bias", [d], "zeros");
  } else {
    const q = config.nHeads * config.headDim;
    const kv = config.nKvHeads * config.headDim;
    add("model.embed_tokens.weight", [v, d], "normal");
    for (let i = 0; i < config.nLayers; i++) {
      const p = `model.layers.${i}.`;
      add(`${p}input_layernorm.weight`, [d], "ones");
      for (const [name, out] of [["q_proj", q], ["k_proj", kv], ["v_proj", kv]] as const) {
        add(`${p}self_attn.${name}.weight`, [d, out], "normal", true);
        if (config.qkvBias) add(`${p}self_attn.${name}.bias`, [out], "zeros");
      }
      add(`${p}self_attn.o_proj.weight`, [q, d], "normal", true);
      if (config.outputBias) add(`${p}self_attn.o_proj.bias`, [d], "zeros");
      add(`${p}post_attention_layernorm.weight`, [d], "ones");
      add(`${p}mlp.gate_proj.weight`, [d, m], "normal", true);
      if (config.mlpBias) add(`${p}mlp.gate_proj.bias`, [m], "zeros");
      add(`${p}mlp.up_proj.weight`, [d, m], "normal", true);
      if (config.mlpBias) add(`${p}mlp.up_proj.bias`, [m], "zeros");
      add(`${p}mlp.down_proj.weight`, [m, d], "normal", true);
      if (config.mlpBias) add(`${p}mlp.down_proj.bias`, [d], "zeros");
    }
    add("model.norm.weight", [d], "ones");
  }
  if (!config.tieEmbeddings) add("lm_head.weight", [d, v], "normal", true);
  return specs;
}

/**
 * The activations autodiff keeps for a `[rows, time]` batch of a transformer, in bytes
 * (float32): per layer and position about 12·d (norms, q/k/v, rotary, attention output,
 * residuals) + 5·d_mlp (MLP projections, activation, product) + 3·heads·time (scores, mask,
 * softmax), plus the embedding and final norm, and 25% for what tfjs keeps besides. An estimate
 * for the memory plan (core/memory_plan.ts), not a measurement; the LM head's logits are counted
 * by the loss.
 *
 * A recomputed block keeps only its input, and the backward pass holds one block's activations at
 * a time; `recompute` is every block (`true`), none, or the first n.
 *
 * @param config The config.
 * @param rows Rows of the batch.
 * @param time Positions per row.
 * @param recompute Which blocks recompute their activations in the backward pass.
 * @returns Bytes.
 */
export function transformerActivationBytes(
  config: TransformerConfig,
  rows: number,
  time: number,
  recompute: Recompute = false,
): number {
  const perLayer = 12 * config.dModel + 5 * config.dMlp + 3 * config.nHeads * time;
  const r = recomputedBlocks(recompute, config.nLayers);
  const kept = r * config.dModel + (config.nLayers - r) * perLayer + (r > 0 ? perLayer : 0);
  const floats = rows * time * (kept + 4 * config.dModel);
  return Math.ceil(floats * 4 * 1.25);
}

/**
 * How many blocks, from the first, recompute their activations.
 *
 * @param recompute `true` (all), `false` (none) or a count.
 * @param layers The model's blocks.
 * @returns A count from 0 to `layers`.
 */
export function recomputedBlocks(recompute: Recompute | undefined, layers: number): number {
  if (recompute === true) return layers;
  if (recompute === undefined || recompute === false) return 0;
  return Math.max(0, Math.min(layers, Math.floor(recompute)));
}

/**
 * The parameter count of a config (from {@link weightSpecs}, nothing allocated).
 *
 * @param config The config.
 * @returns Parameters.
 */
export function parameterCount(config: TransformerConfig): number {
  return weightSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
