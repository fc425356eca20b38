/**
 * Transformer building blocks that tfjs lacks or that are slow on the wasm backend:
 *
 * - {@link matMul}: a matrix product whose gradient materialises the transposes (the built-in
 *   gradient uses transposed products, about 10× slower on wasm);
 * - {@link linear}: `x·W (+ b)` for `x` of any rank, through a 2-D product;
 * - {@link embed}: a table lookup whose forward is a gather and whose gradient is a one-hot
 *   product (wasm has no gather gradient);
 * - {@link gelu} (erf form), {@link geluTanh} (GPT-2's `gelu_new`), {@link silu};
 * - {@link layerNorm}, {@link rmsNorm};
 * - {@link rotary}: rotary position embedding in the Hugging Face `rotate_half` convention.
 *
 * Every function is synchronous and safe inside `tf.tidy`.
 *
 * On the wasm and cpu-blas backends, fast paths replace the compositions of tfjs ops by the fused
 * kernels of `core/backend/fused_kernels.ts` (in place on the wasm heap, or on cpu-blas's typed
 * arrays), given gradients here: GELU (tanh form) and its gradient in one pass, LayerNorm forward
 * and backward in one pass each, an embedding gather and a scatter-add gradient (no one-hot), the
 * bias gradient of {@link linear} as a column sum. With OpenBLAS or the wasm SIMD product,
 * matrix-product gradients pass transposes as flags instead of materialising them. On every other backend the plain
 * compositions run; tests check one against the other to 1e-4.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { cpuBlasName } from "../core/backend/cpu_blas.ts";
import { blasActive } from "../core/backend/wasm_blas.ts";
import { simdActive, simdRowKernels } from "../core/backend/wasm_simd.ts";
import { fastPathsActive, runKernel as run } from "../core/backend/fused_kernels.ts";

function swapLast(rank: number): number[] {
  return [...Array(rank - 2).keys(), rank - 1, rank - 2];
}

type Binary = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** Whether the products take transposes as flags (OpenBLAS or our SIMD kernel serves them). */
const transposeFlags = () => blasActive() || simdActive();

const matMulOp: Binary = tf.customGrad(
  ((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
        // With BLAS or the SIMD product a transpose is a flag of the product; without them, wasm's
        // transposed kernels are slow and the transpose is materialised first.
        if (transposeFlags()) {
          return [tf.matMul(dy, sb, false, true), tf.matMul(sa, dy, true, false)];
        }
        return [
          tf.matMul(dy, tf.transpose(sb, swapLast(sb.rank))),
          tf.matMul(tf.transpose(sa, swapLast(sa.rank)), dy),
        ];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as Binary;

type Ternary = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.Tensor;

/** `x·W + b` for 2-D `x`, whose bias gradient is one column sum (fast path only). */
const linearBiasOp: Ternary = tf.customGrad(
  ((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x, w]);
    return {
      // On cpu-blas the bias rides in the product (its `_FusedMatMul`: no second pass or array).
      value: tf.getBackend() === cpuBlasName
        ? tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b })
        : tf.add(tf.matMul(x, w), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor, tf.Tensor];
        const db = run("ProbsftColumnSum", { x: dy })[0]!;
        if (transposeFlags()) {
          return [tf.matMul(dy, sw, false, true), tf.matMul(sx, dy, true, false), db];
        }
        return [tf.matMul(dy, tf.transpose(sw)), tf.matMul(tf.transpose(sx), dy), db];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as Ternary;

/**
 * `a·b` over the last two axes (equal leading axes), with a gradient that transposes explicitly.
 *
 * @param a `[..., m, k]`.
 * @param b `[..., k, n]` with the same leading axes as `a`.
 * @returns `[..., m, n]`.
 */
export function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return matMulOp(a, b);
}

/**
 * A dense layer: `x·W + b` over the last axis of `x`.
 *
 * @param x `[..., in]`.
 * @param weight `[in, out]`.
 * @param bias `[out]`, optional.
 * @returns `[..., out]`.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const inDim = weight.shape[0]!;
  const outDim = weight.shape[1]!;
  const lead = x.shape.slice(0, -1);
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, inDim]);
  let y: tf.Tensor;
  if (bias && fastPathsActive()) y = linearBiasOp(flat, weight, bias);
  else {
    y = matMul(flat, weight);
    if (bias) y = tf.add(y, bias);
  }
  return x.rank === 2 ? y : tf.reshape(y, [...lead, outDim]);
}

/**
 * Looks up rows of a table: the forward pass gathers; the gradient with respect to the table is
 * `oneHot(ids)ᵀ·dy`, which every backend supports.
 *
 * @param table `[rows, dim]`.
 * @param ids int32 ids of any shape.
 * @returns `[...ids.shape, dim]`.
 */
export function embed(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const rows = table.shape[0]!;
  const dim = table.shape[1]!;
  const flatIds = tf.reshape(ids, [-1]);
  if (fastPathsActive()) {
    return tf.reshape(embedFast(table, tf.cast(flatIds, "int32")), [...ids.shape, dim]);
  }
  // The ids go in as a saved input: a tensor closed over by gradFunc would already be disposed
  // when the gradient runs.
  const op = tf.customGrad(
    ((t: tf.Tensor, i: tf.Tensor, save: tf.GradSaveFunc) => {
      save([i]);
      return {
        value: tf.gather(t, i),
        gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => [
          matMul(
            // oneHot(…, "float32") on wasm 4.22 writes int32 bit patterns (1 → 1.4e-45), which
            // zeroed this gradient: build it as int32 and cast.
            tf.transpose(tf.cast(tf.oneHot(saved!, rows), "float32")),
            tf.reshape(dy, [-1, dim]),
          ),
          tf.zerosLike(saved!),
        ],
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (t: tf.Tensor, i: tf.Tensor) => tf.Tensor;
  return tf.reshape(op(table, flatIds), [...ids.shape, dim]);
}

const embedFast = tf.customGrad(
  ((t: tf.Tensor, i: tf.Tensor, save: tf.GradSaveFunc) => {
    save([i]);
    const rows = t.shape[0]!;
    return {
      value: run("ProbsftGatherRows", { table: t, ids: i })[0]!,
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => [
        run("ProbsftScatterAddRows", { dy, ids: saved! }, { rows })[0]!,
        tf.zerosLike(saved!),
      ],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
) as unknown as Binary;

function unaryFast(forward: string, backward: string): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(
    ((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x]);
      return {
        value: run(forward, { x })[0]!,
        gradFunc: (dy: tf.Tensor, [sx]: tf.Tensor[]) => run(backward, { dy, x: sx! })[0]!,
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (x: tf.Tensor) => tf.Tensor;
}

const geluTanhFast = unaryFast("ProbsftGeluTanh", "ProbsftGeluTanhGrad");

tf.registerGradient({
  kernelName: "ProbsftSplit3",
  gradFunc: (dys: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [a, b, c] = dys as tf.Tensor[];
    return { x: () => run("ProbsftConcat3", { a: a!, b: b!, c: c! }, attrs)[0]! };
  },
});

/**
 * The last axis cut into three equal parts (`tf.split(x, 3, -1)`): on the fast paths one kernel
 * of row copies, and its gradient one kernel that puts them back side by side.
 *
 * @param x `[..., 3·w]` float32.
 * @returns The three `[..., w]` parts.
 */
export function split3(x: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const last = x.shape[x.rank - 1]!;
  if (fastPathsActive() && x.dtype === "float32" && last % 3 === 0) {
    return run("ProbsftSplit3", { x }, { width: last / 3 }) as [tf.Tensor, tf.Tensor, tf.Tensor];
  }
  return tf.split(x, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
}
const geluErfFast = unaryFast("ProbsftGeluErf", "ProbsftGeluErfGrad");

/**
 * GELU in its exact form, `0.5·x·(1 + erf(x/√2))`.
 *
 * @param x Any tensor.
 * @returns GELU(x).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  // On wasm with the SIMD row kernels: one f32x4 pass forward and one backward (wasm_simd.ts).
  if (fastPathsActive() && x.dtype === "float32" && simdRowKernels() !== null) {
    return geluErfFast(x);
  }
  // Otherwise the composite runs on wasm's SIMD erf and is faster than the fused JavaScript kernel
  // (measured 10 vs 25 ms forward + backward on [1312, 256]); the tanh form below is the reverse.
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/**
 * GELU in GPT-2's tanh approximation (`gelu_new`):
 * `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
 *
 * @param x Any tensor.
 * @returns The approximation.
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  if (fastPathsActive() && x.dtype === "float32") return geluTanhFast(x);
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

/**
 * SiLU, `x·σ(x)`.
 *
 * @param x Any tensor.
 * @returns SiLU(x).
 */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * LayerNorm over the last axis.
 *
 * @param x `[..., d]`.
 * @param weight `[d]`.
 * @param bias `[d]`.
 * @param eps Variance epsilon.
 * @returns The normalised tensor.
 */
export function layerNorm(
  x: tf.Tensor,
  weight: tf.Tensor,
  bias: tf.Tensor,
  eps: number,
): tf.Tensor {
  if (fastPathsActive() && x.dtype === "float32" && weight.rank === 1 && bias.rank === 1) {
    return layerNormFast(x, weight, bias, eps);
  }
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), weight), bias);
}

function layerNormFast(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  const op = tf.customGrad(
    ((xi: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      const [y, mean, rstd] = run("ProbsftLayerNorm", { x: xi, w, b }, { eps }) as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      save([xi, w, mean, rstd]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sw, sm, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          return run("ProbsftLayerNormGrad", { dy, x: sx, w: sw, mean: sm, rstd: sr });
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as Ternary;
  return op(x, weight, bias);
}

/**
 * RMSNorm over the last axis: `x / √(mean(x²) + eps) · w`.
 *
 * @param x `[..., d]`.
 * @param weight `[d]`.
 * @param eps Epsilon.
 * @returns The normalised tensor.
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight);
}

/**
 * The cos and sin tables of rotary embeddings for given positions, in the Hugging Face layout
 * (the `dim/2` frequencies repeated twice along the last axis).
 *
 * @param positions `[batch, time]` int32 positions.
 * @param headDim Size of a head (even).
 * @param theta The base (`rope_theta`).
 * @returns `cos` and `sin`, each `[batch, 1, time, headDim]`.
 */
export function rotaryTables(
  positions: tf.Tensor,
  headDim: number,
  theta: number,
): { cos: tf.Tensor; sin: tf.Tensor } {
  const half = headDim / 2;
  const invFreq = new Float32Array(half);
  // Same float32 rounding as torch: inv_freq = 1 / theta^(2i/d) computed in float32.
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  const freq = tf.tensor1d(invFreq);
  const angles = tf.mul(tf.expandDims(tf.cast(positions, "float32"), -1), freq); // [B,T,half]
  const full = tf.concat([angles, angles], -1); // [B,T,dh]
  return { cos: tf.expandDims(tf.cos(full), 1), sin: tf.expandDims(tf.sin(full), 1) };
}

/**
 * Applies rotary embeddings: `x·cos + rotate_half(x)·sin`, with
 * `rotate_half([x1, x2]) = [−x2, x1]`.
 *
 * @param x `[batch, heads, time, headDim]`.
 * @param tables The output of {@link rotaryTables}.
 * @returns The rotated tensor.
 */
export function rotary(x: tf.Tensor, tables: { cos: tf.Tensor; sin: tf.Tensor }): tf.Tensor {
  const half = x.shape[x.rank - 1]! / 2;
  const [x1, x2] = tf.split(x, [half, half], -1) as [tf.Tensor, tf.Tensor];
  const rotated = tf.concat([tf.neg(x2), x1], -1);
  return tf.add(tf.mul(x, tables.cos), tf.mul(rotated, tables.sin));
}

/** The additive mask value: large and negative, but finite so fully masked rows stay finite. */
export const maskValue: number = -1e9;

/**
 * An additive attention mask `[batch, 1, queries, keys]`: 0 where a query may attend to a key,
 * {@link maskValue} elsewhere. Query `i` sits at key index `offset + i`; it sees keys up to and
 * including its own, from the row's first real (non-padding) key on.
 *
 * @param queries Number of new positions.
 * @param keys Total key positions (past + new).
 * @param firstKey Per row, the first key index that is not left padding.
 * @returns The mask.
 */
export function attentionMask(
  queries: number,
  keys: number,
  firstKey: ReadonlyArray<number>,
): tf.Tensor {
  const offset = keys - queries;
  const data = new Float32Array(firstKey.length * queries * keys);
  let at = 0;
  for (const first of firstKey) {
    for (let q = 0; q < queries; q++) {
      for (let k = 0; k < keys; k++) {
        data[at++] = k <= offset + q && k >= first ? 0 : maskValue;
      }
    }
  }
  return tf.tensor4d(data, [firstKey.length, 1, queries, keys]);
}
