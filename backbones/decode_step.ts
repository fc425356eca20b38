/**
 * The fused cached decoding step of {@link Transformer}: a {@link DecodeSession} whose key/value
 * cache is preallocated for the whole generation (`[batch, kvHeads, slots, headDim]` per layer,
 * written in place, never concatenated) and whose step is a short chain of kernels: the embedding,
 * per block one product for q/k/v (three for the `llama` family), one attention kernel (bias,
 * rotary, cache write, causal attention of all heads of the batch), the output product, one
 * residual + norm kernel, the MLP products with one bias + activation kernel and one residual +
 * norm kernel; then the head product on each row's last position. The logits come back to the
 * host in one read per step. The same step runs the prompt block (all positions at once) and
 * every later token.
 *
 * It serves the wasm backend and the cpu backends (`backbones/decode_kernels.ts`); by default it is
 * on where the fused fast paths are (wasm, cpu-blas; `setFastPaths(false)` turns it off) and
 * {@link setFusedDecoding} forces it on or off (tests compare it with the plain path on `cpu`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  decodeKernelsReady,
  decodeLayerKernelReady,
  layerInputNames,
} from "../core/backend/decode_kernels.ts";
import { fastPathsActive, runKernel as run } from "../core/backend/fused_kernels.ts";
import { blasActive } from "../core/backend/wasm_blas.ts";
import { withOneBlasThread } from "../core/backend/openblas.ts";
import type { DecodeSession } from "./generate.ts";
import type { TransformerConfig } from "./transformer_config.ts";

let mode: boolean | "auto" = "auto";

/**
 * Chooses when {@link Transformer.openSession} uses the fused decoding step.
 *
 * @param on `"auto"` (the default): where the fused fast paths are active (wasm, cpu-blas);
 *   `true`: on every backend the decode kernels serve (wasm, cpu, cpu-blas); `false`: never (the
 *   plain tfjs step with a concatenated cache).
 */
export function setFusedDecoding(on: boolean | "auto"): void {
  mode = on;
}

/**
 * Whether a decoding session would use the fused step on the active backend now.
 *
 * @returns True when fused decoding is on (see {@link setFusedDecoding}) and its kernels serve the
 *   backend.
 */
export function fusedDecodingActive(): boolean {
  if (mode === false) return false;
  if (mode === "auto" && !fastPathsActive()) return false;
  return decodeKernelsReady();
}

/** What the fused step reads from a model. */
export interface DecodeWeights {
  /** Sizes and switches. */
  readonly config: TransformerConfig;
  /** Weights by Hugging Face name, dense ones `[in, out]`. */
  readonly weights: ReadonlyMap<string, tf.Tensor>;
}

/**
 * A fused decoding session over a preallocated cache.
 *
 * @param model Config and weights (read at each step: a session sees the current weights, but
 *   must not outlive the model).
 * @param firstKey Per row, the first cache slot that is not left padding.
 * @param slots Cache positions to allocate (prompt width + new tokens; at most the context).
 * @returns The session; `step` throws a `RangeError` past `slots` positions.
 */
export function openFusedSession(
  model: DecodeWeights,
  firstKey: ReadonlyArray<number>,
  slots: number,
): DecodeSession {
  return new FusedSession(model, firstKey, slots);
}

class FusedSession implements DecodeSession {
  readonly #c: TransformerConfig;
  readonly #w: ReadonlyMap<string, tf.Tensor>;
  readonly #batch: number;
  readonly #slots: number;
  readonly #k: tf.Tensor[] = [];
  readonly #v: tf.Tensor[] = [];
  readonly #first: tf.Tensor;
  readonly #head: tf.Tensor;
  readonly #ownHead: boolean;
  readonly #transposedHead: boolean;
  #length = 0;
  #disposed = false;

  constructor(model: DecodeWeights, firstKey: ReadonlyArray<number>, slots: number) {
    const c = model.config;
    this.#c = c;
    this.#w = model.weights;
    this.#batch = firstKey.length;
    this.#slots = slots;
    const shape = [this.#batch, c.nKvHeads, slots, c.headDim];
    for (let i = 0; i < c.nLayers; i++) {
      this.#k.push(tf.zeros(shape));
      this.#v.push(tf.zeros(shape));
    }
    this.#first = tf.tensor1d([...firstKey], "int32");
    const tableName = c.family === "gpt2" ? "transformer.wte.weight" : "model.embed_tokens.weight";
    // A tied head is the token table read transposed: a BLAS flag where products go through
    // OpenBLAS, else one transposed copy per session (wasm's transposed products are slow).
    this.#transposedHead = c.tieEmbeddings && blasActive();
    this.#ownHead = c.tieEmbeddings && !this.#transposedHead;
    this.#head = !c.tieEmbeddings
      ? this.#need("lm_head.weight")
      : this.#transposedHead
      ? this.#need(tableName)
      : tf.transpose(this.#need(tableName));
  }

  /** Logits `[rows, vocab]` of final hidden states `[rows, dModel]`. */
  #logits(y: tf.Tensor): tf.Tensor {
    return tf.matMul(y, this.#head, false, this.#transposedHead);
  }

  get length(): number {
    return this.#length;
  }

  #need(name: string): tf.Tensor {
    const w = this.#w.get(name);
    if (w === undefined) throw new Error(`Transformer has no weight ${name}`);
    return w;
  }

  /** Residual add (when `delta`) and the norm named by `prefix` (`lastOf`: only last rows). */
  #residualNorm(
    h: tf.Tensor,
    delta: tf.Tensor | undefined,
    bias: tf.Tensor | undefined,
    norm: string,
    lastOf: number,
  ): [tf.Tensor, tf.Tensor] {
    const c = this.#c;
    const gpt2 = c.family === "gpt2";
    const w = this.#need(`${norm}.weight`);
    const [hOut, y] = run("ProbsftDecodeResidualNorm", {
      h,
      delta: delta ?? h,
      bias: bias ?? w,
      w,
      b: gpt2 ? this.#need(`${norm}.bias`) : w,
    }, {
      residual: delta !== undefined,
      deltaBias: bias !== undefined,
      norm: gpt2 ? "layer" : "rms",
      eps: c.normEps,
      lastOf,
    }) as [tf.Tensor, tf.Tensor];
    return [hOut, y];
  }

  /** One whole block as one kernel (`ProbsftDecodeLayer`, with OpenBLAS); returns the new `h`. */
  #layer(i: number, h: tf.Tensor, pos: tf.Tensor, time: number, slot: number): tf.Tensor {
    const c = this.#c;
    const gpt2 = c.family === "gpt2";
    const w = (name: string) => this.#w.get(name);
    const hd = c.headDim, qWidth = c.nHeads * hd, kvWidth = c.nKvHeads * hd;
    let inputs: Record<string, tf.Tensor | undefined>;
    if (gpt2) {
      const p = `transformer.h.${i}.`;
      inputs = {
        n1w: w(`${p}ln_1.weight`),
        n1b: w(`${p}ln_1.bias`),
        wq: w(`${p}attn.c_attn.weight`),
        bq: w(`${p}attn.c_attn.bias`),
        wo: w(`${p}attn.c_proj.weight`),
        bo: w(`${p}attn.c_proj.bias`),
        n2w: w(`${p}ln_2.weight`),
        n2b: w(`${p}ln_2.bias`),
        wa: w(`${p}mlp.c_fc.weight`),
        ba: w(`${p}mlp.c_fc.bias`),
        wd: w(`${p}mlp.c_proj.weight`),
        bd: w(`${p}mlp.c_proj.bias`),
      };
    } else {
      const p = `model.layers.${i}.`;
      const a = `${p}self_attn.`, m = `${p}mlp.`;
      inputs = {
        n1w: w(`${p}input_layernorm.weight`),
        wq: w(`${a}q_proj.weight`),
        wk: w(`${a}k_proj.weight`),
        wv: w(`${a}v_proj.weight`),
        bq: w(`${a}q_proj.bias`),
        bk: w(`${a}k_proj.bias`),
        bv: w(`${a}v_proj.bias`),
        wo: w(`${a}o_proj.weight`),
        bo: w(`${a}o_proj.bias`),
        n2w: w(`${p}post_attention_layernorm.weight`),
        wa: w(`${m}gate_proj.weight`),
        wb: w(`${m}up_proj.weight`),
        wd: w(`${m}down_proj.weight`),
        ba: w(`${m}gate_proj.bias`),
        bb: w(`${m}up_proj.bias`),
        bd: w(`${m}down_proj.bias`),
      };
    }
    const named: tf.NamedTensorMap = {};
    // Absent weights (biases, GPT-2's separate k/v) are never read; any tensor stands in.
    for (const name of layerInputNames) named[name] = inputs[name] ?? h;
    named.h = h;
    named.kCache = this.#k[i]!;
    named.vCache = this.#v[i]!;
    named.pos = pos;
    named.first = this.#first;
    const width = gpt2 ? qWidth + 2 * kvWidth : 0;
    return run("ProbsftDecodeLayer", named, {
      time,
      slot,
      heads: c.nHeads,
      kvHeads: c.nKvHeads,
      headDim: hd,
      theta: gpt2 ? 0 : c.ropeTheta,
      cols: gpt2 ? [0, qWidth, qWidth + kvWidth] : [0, 0, 0],
      strides: gpt2 ? [width, width, width] : [qWidth, kvWidth, kvWidth],
      bias: gpt2 || c.qkvBias,
      eps: c.normEps,
      norm: gpt2 ? "layer" : "rms",
      fusedQkv: gpt2,
      outBias: gpt2 || c.outputBias,
      mlpBias: gpt2 || c.mlpBias,
      activation: c.activation,
      gated: !gpt2,
    })[0]!;
  }

  step(
    tokens: ReadonlyArray<ReadonlyArray<number>>,
    positions: ReadonlyArray<ReadonlyArray<number>>,
  ): Float32Array {
    if (this.#disposed) throw new Error("Decoding session is disposed");
    const c = this.#c;
    const batch = this.#batch;
    const time = tokens[0]?.length ?? 0;
    if (tokens.length !== batch || time === 0) {
      throw new RangeError(`A step takes ${batch} rows of at least one token`);
    }
    if (this.#length + time > this.#slots) {
      throw new RangeError(
        `Decoding past the ${this.#slots} cached positions allocated (${this.#length} + ${time})`,
      );
    }
    const slot = this.#length;
    const gpt2 = c.family === "gpt2";
    // A token step's products are small: one OpenBLAS thread (see withOneBlasThread).
    const run1 = time === 1 ? withOneBlasThread : <T>(f: () => T) => f();
    const logits = run1(() =>
      tf.tidy(() => {
        const ids = tf.tensor1d(tokens.flat(), "int32");
        const pos = tf.tensor1d(positions.flat(), "int32");
        const table = this.#need(gpt2 ? "transformer.wte.weight" : "model.embed_tokens.weight");
        let h = run("ProbsftDecodeEmbed", {
          table,
          positionsTable: gpt2 ? this.#need("transformer.wpe.weight") : table,
          ids,
          pos,
        }, { positions: gpt2 })[0]!;
        const normName = (i: number, second: boolean) =>
          gpt2
            ? `transformer.h.${i}.${second ? "ln_2" : "ln_1"}`
            : `model.layers.${i}.${second ? "post_attention_layernorm" : "input_layernorm"}`;
        const finalNorm = gpt2 ? "transformer.ln_f" : "model.norm";
        if (decodeLayerKernelReady()) {
          for (let i = 0; i < c.nLayers; i++) h = this.#layer(i, h, pos, time, slot);
          return this.#logits(this.#residualNorm(h, undefined, undefined, finalNorm, time)[1]);
        }
        let y: tf.Tensor;
        [h, y] = this.#residualNorm(h, undefined, undefined, normName(0, false), 0);
        const hd = c.headDim, qWidth = c.nHeads * hd, kvWidth = c.nKvHeads * hd;
        for (let i = 0; i < c.nLayers; i++) {
          let att: tf.Tensor;
          const attrs = {
            time,
            slot,
            heads: c.nHeads,
            kvHeads: c.nKvHeads,
            headDim: hd,
            theta: gpt2 ? 0 : c.ropeTheta,
          };
          const caches = { kCache: this.#k[i]!, vCache: this.#v[i]!, pos, first: this.#first };
          let outBias: tf.Tensor | undefined;
          if (gpt2) {
            const p = `transformer.h.${i}.`;
            const qkv = tf.matMul(y, this.#need(`${p}attn.c_attn.weight`));
            const b = this.#need(`${p}attn.c_attn.bias`);
            att = run("ProbsftDecodeAttention", {
              q: qkv,
              k: qkv,
              v: qkv,
              qb: b,
              kb: b,
              vb: b,
              ...caches,
            }, {
              ...attrs,
              cols: [0, qWidth, qWidth + kvWidth],
              strides: [qWidth + 2 * kvWidth, qWidth + 2 * kvWidth, qWidth + 2 * kvWidth],
              bias: true,
            })[0]!;
            att = tf.matMul(att, this.#need(`${p}attn.c_proj.weight`));
            outBias = this.#need(`${p}attn.c_proj.bias`);
          } else {
            const p = `model.layers.${i}.self_attn.`;
            const proj = (name: string) => tf.matMul(y, this.#need(`${p}${name}.weight`));
            const q = proj("q_proj"), k = proj("k_proj"), v = proj("v_proj");
            const bias = c.qkvBias;
            att = run("ProbsftDecodeAttention", {
              q,
              k,
              v,
              qb: bias ? this.#need(`${p}q_proj.bias`) : q,
              kb: bias ? this.#need(`${p}k_proj.bias`) : k,
              vb: bias ? this.#need(`${p}v_proj.bias`) : v,
              ...caches,
            }, { ...attrs, cols: [0, 0, 0], strides: [qWidth, kvWidth, kvWidth], bias })[0]!;
            att = tf.matMul(att, this.#need(`${p}o_proj.weight`));
            outBias = this.#w.get(`${p}o_proj.bias`);
          }
          [h, y] = this.#residualNorm(h, att, outBias, normName(i, true), 0);
          let mlpOut: tf.Tensor;
          let mlpBias: tf.Tensor | undefined;
          if (gpt2) {
            const p = `transformer.h.${i}.mlp.`;
            const a = tf.matMul(y, this.#need(`${p}c_fc.weight`));
            const act = run("ProbsftDecodeActivation", {
              a,
              b: a,
              ab: this.#need(`${p}c_fc.bias`),
              bb: this.#need(`${p}c_fc.bias`),
            }, { kind: c.activation, gated: false, bias: true })[0]!;
            mlpOut = tf.matMul(act, this.#need(`${p}c_proj.weight`));
            mlpBias = this.#need(`${p}c_proj.bias`);
          } else {
            const p = `model.layers.${i}.mlp.`;
            const gate = tf.matMul(y, this.#need(`${p}gate_proj.weight`));
            const up = tf.matMul(y, this.#need(`${p}up_proj.weight`));
            const bias = c.mlpBias;
            const act = run("ProbsftDecodeActivation", {
              a: gate,
              b: up,
              ab: bias ? this.#need(`${p}gate_proj.bias`) : gate,
              bb: bias ? this.#need(`${p}up_proj.bias`) : up,
            }, { kind: c.activation, gated: true, bias })[0]!;
            mlpOut = tf.matMul(act, this.#need(`${p}down_proj.weight`));
            mlpBias = this.#w.get(`${p}down_proj.bias`);
          }
          const last = i === c.nLayers - 1;
          const next = last ? finalNorm : normName(i + 1, false);
          [h, y] = this.#residualNorm(h, mlpOut, mlpBias, next, last ? time : 0);
        }
        return this.#logits(y);
      })
    );
    this.#length += time;
    try {
      return logits.dataSync() as Float32Array;
    } finally {
      logits.dispose();
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    tf.dispose([...this.#k, ...this.#v, this.#first]);
    if (this.#ownHead) this.#head.dispose();
  }
}
