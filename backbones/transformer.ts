/**
 * A decoder-only transformer in tfjs ops, in two families:
 *
 * - `llama` (Llama, Qwen2): RMSNorm, rotary embeddings with `rope_theta`, SwiGLU MLP,
 *   grouped-query attention, optional q/k/v bias (Qwen2), tied or untied embeddings;
 * - `gpt2`: learned positions, LayerNorm, GELU MLP (exact or tanh form), fused `c_attn`.
 *
 * Weights are kept under their Hugging Face names, with every dense weight stored `[in, out]`
 * (GPT-2's Conv1D layout; Llama's `nn.Linear` weights are transposed at load and save). The
 * forward pass uses {@link embed} (gather forward, one-hot gradient) and {@link matMul}
 * (explicit-transpose gradient), so training is fast on wasm.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type {
  GenerateOptions,
  Generation,
  LanguageModel,
  Recompute,
  Tokenizer,
} from "../core/plugin.ts";
import {
  attentionMask,
  embed,
  gelu,
  geluTanh,
  layerNorm,
  linear,
  matMul,
  rmsNorm,
  rotary,
  rotaryTables,
  silu,
  split3,
} from "./ops.ts";
import { normals, uniform } from "./random.ts";
import {
  causalAttention,
  fusedAttention,
  isCausal,
  markCausal,
  maskedSoftmax,
} from "./attention.ts";
import {
  type DecodeSession,
  generate,
  type KvCache,
  type StepModel,
  type StepOutput,
} from "./generate.ts";
import { fusedDecodingActive, openFusedSession } from "./decode_step.ts";
import { gradsInBackward } from "../core/ops.ts";
import { saveHf } from "./hf_write.ts";
import {
  checkConfig,
  recomputedBlocks,
  transformerActivationBytes,
  type TransformerConfig,
  weightSpecs,
} from "./transformer_config.ts";

export {
  type Activation,
  checkConfig,
  type ConfigOverrides,
  type Family,
  parameterCount,
  tinyConfig,
  transformerActivationBytes,
  type TransformerConfig,
  type WeightSpec,
  weightSpecs,
} from "./transformer_config.ts";

/** Weight values by Hugging Face name, in the layout kept here (plain arrays or tensors). */
export type WeightValues = ReadonlyMap<string, Float32Array | tf.Tensor>;

/**
 * Deterministic initial weights: N(0, 0.02²) for matrices and embeddings, zeros for biases, ones
 * for norm scales.
 *
 * @param config The config.
 * @param seed The seed.
 * @returns The values, by name.
 */
export function initialWeights(config: TransformerConfig, seed: number): Map<string, Float32Array> {
  const next = uniform(seed);
  const out = new Map<string, Float32Array>();
  for (const spec of weightSpecs(config)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.init === "normal") out.set(spec.name, normals(next, size, 0.02));
    else out.set(spec.name, new Float32Array(size).fill(spec.init === "ones" ? 1 : 0));
  }
  return out;
}

let modelCounter = 0;

/** Options of {@link Transformer}. */
export interface TransformerOptions {
  /** The tokenizer that goes with the weights. */
  readonly tokenizer: Tokenizer;
  /** The weights (by Hugging Face name, layout kept here); default: {@link initialWeights}. */
  readonly weights?: WeightValues;
  /** The seed of the initial weights when `weights` is absent. @default 0 */
  readonly seed?: number;
  /** Ids that end generation besides the tokenizer's `eosId`. */
  readonly eosIds?: ReadonlyArray<number>;
  /** Weights are frozen (a snapshot). */
  readonly frozen?: boolean;
  /** Extra `config.json` keys kept from a loaded checkpoint (e.g. `bos_token_id`). */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
}

/** One block's cached keys and values, `[batch, kvHeads, time, headDim]`. */
interface LayerCache {
  readonly k: tf.Tensor;
  readonly v: tf.Tensor;
}

class TransformerCache implements KvCache {
  readonly layers: ReadonlyArray<LayerCache>;
  readonly length: number;
  constructor(layers: ReadonlyArray<LayerCache>, length: number) {
    this.layers = layers;
    this.length = length;
  }
  dispose(): void {
    for (const layer of this.layers) {
      layer.k.dispose();
      layer.v.dispose();
    }
  }
}

/** A decoder-only transformer that implements {@link LanguageModel}. */
export class Transformer implements LanguageModel, StepModel {
  /** The sizes and switches. */
  readonly config: TransformerConfig;
  /** The tokenizer that goes with the weights. */
  readonly tokenizer: Tokenizer;
  /** Ids that end generation. */
  readonly eosIds: ReadonlyArray<number>;
  /** The weights by Hugging Face name. */
  readonly weights: ReadonlyMap<string, tf.Variable>;
  /** The trainable weights, in {@link weightSpecs} order (empty for a frozen snapshot). */
  readonly variables: ReadonlyArray<tf.Variable>;
  /** Extra `config.json` keys written on save. */
  readonly extraConfig: Readonly<Record<string, unknown>>;
  #disposed = false;

  /**
   * @param config Sizes and switches.
   * @param options Tokenizer, weights or seed.
   */
  constructor(config: TransformerConfig, options: TransformerOptions) {
    checkConfig(config);
    this.config = config;
    this.tokenizer = options.tokenizer;
    this.eosIds = [...new Set([options.tokenizer.eosId, ...(options.eosIds ?? [])])];
    this.extraConfig = options.extraConfig ?? {};
    const values = options.weights ?? initialWeights(config, options.seed ?? 0);
    const prefix = `transformer${modelCounter++}`;
    const trainable = !options.frozen;
    const weights = new Map<string, tf.Variable>();
    for (const spec of weightSpecs(config)) {
      const value = values.get(spec.name);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const count = value === undefined
        ? -1
        : value instanceof tf.Tensor
        ? value.size
        : value.length;
      if (count !== size) {
        for (const w of weights.values()) w.dispose();
        throw new RangeError(
          `Weight ${spec.name} ${
            count < 0 ? "is missing" : `has ${count} values`
          }, expected shape ${JSON.stringify(spec.shape)}`,
        );
      }
      weights.set(
        spec.name,
        tf.tidy(() =>
          tf.variable(
            value instanceof tf.Tensor
              ? tf.reshape(tf.clone(value), [...spec.shape])
              : tf.tensor(value as Float32Array, [...spec.shape]),
            trainable,
            `${prefix}/${spec.name}`,
          )
        ),
      );
    }
    this.weights = weights;
    this.variables = trainable ? [...weights.values()] : [];
  }

  /** Size of the output layer. */
  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** Longest sequence the model accepts. */
  get contextLength(): number {
    return this.config.contextLength;
  }

  #w(name: string): tf.Variable {
    const w = this.weights.get(name);
    if (!w) throw new Error(`Transformer has no weight ${name}`);
    return w;
  }

  #maybe(name: string): tf.Variable | undefined {
    return this.weights.get(name);
  }

  #attention(
    q: tf.Tensor,
    k: tf.Tensor,
    v: tf.Tensor,
    mask: tf.Tensor,
    past: LayerCache | undefined,
    tables: { cos: tf.Tensor; sin: tf.Tensor } | undefined,
  ): { out: tf.Tensor; present: LayerCache } {
    const c = this.config;
    const [batch, time] = [q.shape[0]!, q.shape[1]!];
    const heads = (x: tf.Tensor, n: number) =>
      tf.transpose(tf.reshape(x, [batch, time, n, c.headDim]), [0, 2, 1, 3]);
    if (past === undefined && isCausal(mask) && fusedAttention()) {
      // Whole sequences under the plain causal mask (training): one fused kernel each way, in
      // the projections' layout; rotary applied per position ([batch, time, heads, headDim]).
      const rotate = (x: tf.Tensor, n: number) =>
        tables
          ? tf.reshape(
            rotary(tf.reshape(x, [batch, time, n, c.headDim]), {
              cos: tf.reshape(tables.cos, [batch, time, 1, c.headDim]),
              sin: tf.reshape(tables.sin, [batch, time, 1, c.headDim]),
            }),
            [batch, time, n * c.headDim],
          )
          : x;
      const kr = rotate(k, c.nKvHeads);
      const out = causalAttention(rotate(q, c.nHeads), kr, v, {
        heads: c.nHeads,
        kvHeads: c.nKvHeads,
        headDim: c.headDim,
      });
      // The cache layout only on demand (the training pass never reads it).
      let cached: LayerCache | undefined;
      const present = () => (cached ??= { k: heads(kr, c.nKvHeads), v: heads(v, c.nKvHeads) });
      return {
        out,
        present: {
          get k() {
            return present().k;
          },
          get v() {
            return present().v;
          },
        },
      };
    }
    let qh = heads(q, c.nHeads);
    let kh = heads(k, c.nKvHeads);
    let vh = heads(v, c.nKvHeads);
    if (tables) {
      qh = rotary(qh, tables);
      kh = rotary(kh, tables);
    }
    if (past) {
      kh = tf.concat([past.k, kh], 2);
      vh = tf.concat([past.v, vh], 2);
    }
    const present = { k: kh, v: vh };
    const keys = kh.shape[2]!;
    const group = c.nHeads / c.nKvHeads;
    const repeat = (x: tf.Tensor) =>
      group === 1 ? x : tf.reshape(
        // Rank-4 tile (tfjs has no rank-5 tile gradient): kv head j serves heads j·group…
        tf.tile(tf.reshape(x, [batch, c.nKvHeads, 1, keys * c.headDim]), [1, 1, group, 1]),
        [batch, c.nHeads, keys, c.headDim],
      );
    const scores = matMul(qh, tf.transpose(repeat(kh), [0, 1, 3, 2]));
    const context = matMul(maskedSoftmax(scores, 1 / Math.sqrt(c.headDim), mask), repeat(vh));
    const out = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [
      batch,
      time,
      c.nHeads * c.headDim,
    ]);
    return { out, present };
  }

  #mlpActivation(x: tf.Tensor): tf.Tensor {
    const a = this.config.activation;
    return a === "gelu" ? gelu(x) : a === "gelu_new" ? geluTanh(x) : silu(x);
  }

  /**
   * One block: attention and MLP with their norms and residuals. `w` reads a weight by name
   * (`undefined` for an absent bias). Call inside `tf.tidy`.
   */
  #block(
    i: number,
    h: tf.Tensor,
    mask: tf.Tensor,
    past: LayerCache | undefined,
    tables: { cos: tf.Tensor; sin: tf.Tensor } | undefined,
    w: (name: string) => tf.Tensor | undefined,
  ): { h: tf.Tensor; present: LayerCache } {
    const c = this.config;
    const need = (name: string) => w(name)!;
    if (c.family === "gpt2") {
      const p = `transformer.h.${i}.`;
      const x = layerNorm(h, need(`${p}ln_1.weight`), need(`${p}ln_1.bias`), c.normEps);
      const qkv = linear(x, need(`${p}attn.c_attn.weight`), need(`${p}attn.c_attn.bias`));
      const [q, k, v] = split3(qkv);
      const att = this.#attention(q, k, v, mask, past, undefined);
      h = tf.add(h, linear(att.out, need(`${p}attn.c_proj.weight`), need(`${p}attn.c_proj.bias`)));
      const y = layerNorm(h, need(`${p}ln_2.weight`), need(`${p}ln_2.bias`), c.normEps);
      const hidden = this.#mlpActivation(
        linear(y, need(`${p}mlp.c_fc.weight`), need(`${p}mlp.c_fc.bias`)),
      );
      h = tf.add(h, linear(hidden, need(`${p}mlp.c_proj.weight`), need(`${p}mlp.c_proj.bias`)));
      return { h, present: att.present };
    }
    const p = `model.layers.${i}.`;
    const x = rmsNorm(h, need(`${p}input_layernorm.weight`), c.normEps);
    const proj = (name: string) =>
      linear(x, need(`${p}self_attn.${name}.weight`), w(`${p}self_attn.${name}.bias`));
    const att = this.#attention(proj("q_proj"), proj("k_proj"), proj("v_proj"), mask, past, tables);
    h = tf.add(
      h,
      linear(att.out, need(`${p}self_attn.o_proj.weight`), w(`${p}self_attn.o_proj.bias`)),
    );
    const y = rmsNorm(h, need(`${p}post_attention_layernorm.weight`), c.normEps);
    const mlp = (name: string, input: tf.Tensor) =>
      linear(input, need(`${p}mlp.${name}.weight`), w(`${p}mlp.${name}.bias`));
    const hidden = tf.mul(this.#mlpActivation(mlp("gate_proj", y)), mlp("up_proj", y));
    return { h: tf.add(h, mlp("down_proj", hidden)), present: att.present };
  }

  /**
   * A block whose activations are not kept for the backward pass: only its input is saved,
   * and the backward pass runs the block again (activation recomputation, "gradient
   * checkpointing"), so a step holds one block's activations instead of every block's.
   */
  #recomputedBlock(
    i: number,
    h: tf.Tensor,
    mask: tf.Tensor,
    tables: { cos: tf.Tensor; sin: tf.Tensor } | undefined,
  ): tf.Tensor {
    const prefix = this.config.family === "gpt2" ? `transformer.h.${i}.` : `model.layers.${i}.`;
    const names = [...this.weights.keys()].filter((n) => n.startsWith(prefix));
    const constants = [mask, ...(tables ? [tables.cos, tables.sin] : [])];
    const causal = isCausal(mask);
    const run = (x: tf.Tensor, ws: tf.Tensor[], cs: tf.Tensor[]) => {
      if (causal) markCausal(cs[0]!);
      const byName = new Map(names.map((n, k) => [n, ws[k]!]));
      const t = cs.length === 3 ? { cos: cs[1]!, sin: cs[2]! } : undefined;
      return this.#block(i, x, cs[0]!, undefined, t, (n) => byName.get(n)).h;
    };
    const block = tf.customGrad(
      ((...args: unknown[]) => {
        const save = args.pop() as tf.GradSaveFunc;
        const tensors = args as tf.Tensor[];
        save(tensors);
        const ws = tensors.slice(1, 1 + names.length);
        const cs = tensors.slice(1 + names.length);
        return {
          value: run(tensors[0]!, ws, cs),
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
            const savedWs = saved.slice(1, 1 + names.length);
            const savedCs = saved.slice(1 + names.length);
            const grads = gradsInBackward(
              (...xs: tf.Tensor[]) => run(xs[0]!, xs.slice(1), savedCs),
              [saved[0]!, ...savedWs],
              dy,
            );
            return [...grads, ...savedCs.map((t) => tf.zerosLike(t))];
          },
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0],
    );
    return block(h, ...names.map((n) => this.weights.get(n)!), ...constants) as tf.Tensor;
  }

  /**
   * The forward pass over new positions, optionally after cached ones. Call inside `tf.tidy`.
   *
   * @param tokens `[batch, time]` int32.
   * @param positions `[batch, time]` int32 positions.
   * @param mask Additive mask `[batch | 1, 1, time, past + time]`.
   * @param past Cached keys and values, or none.
   * @param lastOnly Only keep the last position's hidden state.
   * @param recompute Blocks that recompute their activations in the backward pass (no cache): all
   *   (`true`), none, or the first n.
   * @returns Final hidden states (after the last norm) and the keys and values of all positions.
   */
  forward(
    tokens: tf.Tensor,
    positions: tf.Tensor,
    mask: tf.Tensor,
    past: ReadonlyArray<LayerCache> | undefined,
    lastOnly: boolean,
    recompute: Recompute = false,
  ): { hidden: tf.Tensor; present: LayerCache[] } {
    const c = this.config;
    const present: LayerCache[] = [];
    const gpt2 = c.family === "gpt2";
    const tables = gpt2 ? undefined : rotaryTables(positions, c.headDim, c.ropeTheta);
    let h = gpt2
      ? tf.add(
        embed(this.#w("transformer.wte.weight"), tokens),
        embed(this.#w("transformer.wpe.weight"), positions),
      )
      : embed(this.#w("model.embed_tokens.weight"), tokens);
    const recomputed = past === undefined ? recomputedBlocks(recompute, c.nLayers) : 0;
    for (let i = 0; i < c.nLayers; i++) {
      if (i < recomputed) {
        h = this.#recomputedBlock(i, h, mask, tables);
        continue;
      }
      const out = this.#block(i, h, mask, past?.[i], tables, (n) => this.#maybe(n));
      present.push(out.present);
      h = out.h;
    }
    if (lastOnly) h = tf.slice(h, [0, h.shape[1]! - 1, 0], [-1, 1, -1]);
    h = gpt2
      ? layerNorm(
        h,
        this.#w("transformer.ln_f.weight"),
        this.#w("transformer.ln_f.bias"),
        c.normEps,
      )
      : rmsNorm(h, this.#w("model.norm.weight"), c.normEps);
    return { hidden: h, present };
  }

  /**
   * The activations autodiff keeps for a `[rows, time]` batch, in bytes (see
   * {@link transformerActivationBytes}).
   *
   * @param rows Rows of the batch.
   * @param time Positions per row.
   * @param recompute Which blocks recompute their activations in the backward pass.
   * @returns Bytes.
   */
  activationBytes(rows: number, time: number, recompute: Recompute = false): number {
    return transformerActivationBytes(this.config, rows, time, recompute);
  }

  /**
   * The LM head as a `[dModel, vocab]` matrix (the transposed token embedding when tied), on the
   * gradient path to the weights: logits = hidden · head. Call inside `tf.tidy`.
   *
   * @returns The head weight.
   */
  headWeight(): tf.Tensor2D {
    const rows = this.headRows();
    return (rows ? tf.transpose(rows) : this.#w("lm_head.weight")) as tf.Tensor2D;
  }

  /**
   * The tied token embedding `[vocab, dModel]`, the LM head's rows (logits = hidden · rowsᵀ), or
   * `undefined` for an untied head (stored `[dModel, vocab]`, see {@link headWeight}).
   *
   * @returns The embedding variable, or `undefined`.
   */
  headRows(): tf.Tensor2D | undefined {
    const c = this.config;
    if (!c.tieEmbeddings) return undefined;
    return this.#w(
      c.family === "gpt2" ? "transformer.wte.weight" : "model.embed_tokens.weight",
    ) as tf.Tensor2D;
  }

  /**
   * Final hidden states `[batch, time, dModel]` (after the last norm) of int32 tokens
   * `[batch, time]` at positions 0…time−1, so that a loss can apply the head chunk by chunk.
   * Synchronous and tidy-safe.
   *
   * @param tokens `[batch, time]` int32 ids.
   * @param options `recompute`: the blocks (all, none or the first n) that keep only their input
   *   for the backward pass.
   * @returns The hidden states.
   */
  hidden(tokens: tf.Tensor2D, options: { readonly recompute?: Recompute } = {}): tf.Tensor3D {
    const [batch, time] = tokens.shape;
    if (time > this.config.contextLength) {
      throw new RangeError(
        `Sequence of ${time} tokens exceeds the context length ${this.config.contextLength}`,
      );
    }
    return tf.tidy(() => {
      const positions = tf.tile(tf.expandDims(tf.range(0, time, 1, "int32"), 0), [batch, 1]);
      const mask = markCausal(attentionMask(time, time, [0]));
      return this.forward(
        tf.cast(tokens, "int32"),
        positions,
        mask,
        undefined,
        false,
        options.recompute ?? false,
      ).hidden as tf.Tensor3D;
    });
  }

  /**
   * Logits `[batch, time, vocab]` of int32 tokens `[batch, time]` at positions 0…time−1.
   * Synchronous and tidy-safe.
   *
   * @param tokens `[batch, time]` int32 ids.
   * @returns The logits.
   */
  logits(tokens: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => linear(this.hidden(tokens), this.headWeight()) as tf.Tensor3D);
  }

  /**
   * One decoding step for {@link generate}: the logits of the last position of each row and the
   * extended cache.
   *
   * @param tokens New token ids per row (all rows the same length).
   * @param positions Their positions.
   * @param firstKey Per row, the first key index that is not left padding.
   * @param cache The cache of earlier positions, or none.
   * @returns Last-position logits `[batch, vocab]` and the cache including the new positions.
   */
  step(
    tokens: ReadonlyArray<ReadonlyArray<number>>,
    positions: ReadonlyArray<ReadonlyArray<number>>,
    firstKey: ReadonlyArray<number>,
    cache: KvCache | undefined,
  ): StepOutput {
    const batch = tokens.length;
    const time = tokens[0]!.length;
    const past = (cache as TransformerCache | undefined)?.layers;
    const pastLength = cache?.length ?? 0;
    const [logits, ...kv] = tf.tidy(() => {
      const ids = tf.tensor2d(tokens.map((r) => [...r]), [batch, time], "int32");
      const pos = tf.tensor2d(positions.map((r) => [...r]), [batch, time], "int32");
      const mask = attentionMask(time, pastLength + time, firstKey);
      const { hidden, present } = this.forward(ids, pos, mask, past, true);
      const logits = linear(hidden, this.headWeight());
      return [
        tf.reshape(logits, [batch, this.config.vocabSize]),
        ...present.flatMap((layer) => [layer.k, layer.v]),
      ];
    });
    const layers: LayerCache[] = [];
    for (let i = 0; i < kv.length; i += 2) layers.push({ k: kv[i]!, v: kv[i + 1]! });
    return {
      logits: logits as tf.Tensor2D,
      cache: new TransformerCache(layers, pastLength + time),
    };
  }

  /**
   * A fused decoding session for {@link generate} (`backbones/decode_step.ts`): a preallocated
   * cache written in place and one short chain of fused kernels per step, on the wasm and cpu
   * backends while fused decoding is on (see `setFusedDecoding`).
   *
   * @param firstKey Per row, the first position that is not left padding.
   * @param slots Positions to hold (prompt width + new tokens).
   * @returns The session, or `undefined` where the plain {@link Transformer.step} decodes.
   */
  openSession(firstKey: ReadonlyArray<number>, slots: number): DecodeSession | undefined {
    if (this.#disposed || !fusedDecodingActive()) return undefined;
    return openFusedSession(this, firstKey, Math.min(slots, this.config.contextLength));
  }

  /**
   * Batched decoding with a key/value cache; see {@link generate}.
   *
   * @param prompts Token ids per prompt.
   * @param options Decoding options.
   * @returns One generation per prompt.
   */
  generate(
    prompts: ReadonlyArray<ReadonlyArray<number>>,
    options: GenerateOptions,
  ): Promise<Generation[]> {
    return generate(this, prompts, options);
  }

  /**
   * The current weight values, by Hugging Face name (layout kept here).
   *
   * @returns Copies of the values.
   */
  async weightValues(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, w] of this.weights) out.set(name, (await w.data()) as Float32Array);
    return out;
  }

  /**
   * A frozen copy of the current weights.
   *
   * @returns A model with the same config and tokenizer and no trainable variables.
   */
  snapshot(): Transformer {
    return new Transformer(this.config, {
      tokenizer: this.tokenizer,
      weights: this.weights,
      eosIds: this.eosIds,
      frozen: true,
      extraConfig: this.extraConfig,
    });
  }

  /**
   * Writes `config.json`, `model.safetensors`, `generation_config.json` and the tokenizer files
   * in the Hugging Face layout.
   *
   * @param dir The directory (created if missing).
   */
  async save(dir: string): Promise<void> {
    await saveHf(this, dir);
  }

  /** Frees the weights. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const w of this.weights.values()) w.dispose();
  }
}
