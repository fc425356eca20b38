/**
 * Causal self-attention over whole sequences (the training forward pass, no cache), fused into
 * one kernel forward and one backward on the wasm and cpu-blas backends
 * (`core/backend/attention_kernel.ts`), with the plain tfjs composition everywhere else and when
 * the fast paths are off (`setFastPaths(false)`). Both compute
 * `softmax(Q·Kᵀ/√d + causal mask)·V` per head (Vaswani et al. 2017, eq. 1).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fusedAttentionActive } from "../core/backend/attention_kernel.ts";
import { blasAttentionServes } from "../core/backend/attention_blas.ts";
import { cpuBlasName } from "../core/backend/cpu_blas.ts";
import { fastPathsActive, runKernel } from "../core/backend/fused_kernels.ts";
import { blasActive } from "../core/backend/wasm_blas.ts";
import { maskValue, matMul } from "./ops.ts";

/** Head counts of {@link causalAttention}. */
export interface AttentionHeads {
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (divides `heads`; fewer than `heads` is grouped-query attention). */
  readonly kvHeads: number;
  /** Size of a head. */
  readonly headDim: number;
}

const causalMasks = new WeakSet<tf.Tensor>();

/**
 * Marks an additive mask as the plain causal mask of a whole sequence (query `i` sees keys
 * `0…i`, no padding), so that attention over it may take the fused kernel.
 *
 * @param mask `[1, 1, time, time]`, as `attentionMask(time, time, [0])` builds it.
 * @returns The same tensor.
 */
export function markCausal(mask: tf.Tensor): tf.Tensor {
  causalMasks.add(mask);
  return mask;
}

/**
 * Whether a mask was marked by {@link markCausal}.
 *
 * @param mask An additive attention mask.
 * @returns True for a marked causal mask.
 */
export function isCausal(mask: tf.Tensor): boolean {
  return causalMasks.has(mask);
}

/**
 * Whether the model's training pass should take {@link causalAttention}'s fused kernels: where
 * they serve the backend (wasm and cpu-blas, fast paths on) and, on wasm, no BLAS serves the
 * matrix products. On wasm the kernels run their per-head products through the SIMD matrix product
 * (`core/backend/attention_simd.ts`; plain JavaScript at about 1.5 GFLOP/s with
 * `PROBSFT_SIMD=0`): faster than wasm's own batched products over `batch·heads` small matrices
 * (about 1 GFLOP/s, plus the transposes, mask and softmax ops they replace); the JavaScript kernel
 * was slower than the plain composition on OpenBLAS (measured 2026-11-30 on `[32, 64, 4·16]`,
 * forward and backward, alternating: plain wasm 208 ms, fused 138 ms, OpenBLAS 48 ms; machine
 * under load), so with OpenBLAS on wasm the composition stays. On cpu-blas the kernels run
 * per-head BLAS products in the projections' layout and the native softmax
 * (`core/backend/attention_blas.ts`), which saves the composition's head transposes.
 *
 * @returns True on plain wasm (no OpenBLAS), and on cpu-blas where the BLAS kernels serve, with
 *   the fast paths on.
 */
export function fusedAttention(): boolean {
  if (!fusedAttentionActive()) return false;
  return tf.getBackend() === cpuBlasName ? blasAttentionServes() : !blasActive();
}

type Attention = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;

function fusedOp(heads: AttentionHeads, batch: number, time: number): Attention {
  const attrs = {
    heads: heads.heads,
    kvHeads: heads.kvHeads,
    headDim: heads.headDim,
    scale: 1 / Math.sqrt(heads.headDim),
    batch,
    time,
  };
  return tf.customGrad(
    ((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, save: tf.GradSaveFunc) => {
      const [out, probs] = runKernel("ProbsftCausalAttention", { q, k, v }, attrs) as [
        tf.Tensor,
        tf.Tensor,
      ];
      save([q, k, v, probs!]);
      return {
        value: out,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sq, sk, sv, sp] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          return runKernel(
            "ProbsftCausalAttentionGrad",
            { dy, q: sq, k: sk, v: sv, probs: sp },
            attrs,
          );
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as Attention;
}

/**
 * The plain composition: heads split out by transposes, `Q·Kᵀ·(1/√d)` plus the causal mask,
 * softmax, times `V`, heads merged back.
 */
function plainAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  heads: AttentionHeads,
): tf.Tensor {
  const [batch, time] = [q.shape[0]!, q.shape[1]!];
  const { heads: nq, kvHeads: nk, headDim } = heads;
  const split = (x: tf.Tensor, n: number) =>
    tf.transpose(tf.reshape(x, [batch, time, n, headDim]), [0, 2, 1, 3]);
  const group = nq / nk;
  const repeat = (x: tf.Tensor) =>
    group === 1 ? x : tf.reshape(
      tf.tile(tf.reshape(x, [batch, nk, 1, time * headDim]), [1, 1, group, 1]),
      [batch, nq, time, headDim],
    );
  const mask = new Float32Array(time * time);
  for (let i = 0; i < time; i++) for (let j = i + 1; j < time; j++) mask[i * time + j] = maskValue;
  const scores = tf.add(
    tf.mul(
      matMul(split(q, nq), tf.transpose(repeat(split(k, nk)), [0, 1, 3, 2])),
      1 / Math.sqrt(headDim),
    ),
    tf.tensor4d(mask, [1, 1, time, time]),
  );
  const context = matMul(tf.softmax(scores, -1), repeat(split(v, nk)));
  return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, time, nq * headDim]);
}

/**
 * Causal self-attention of whole sequences, in the projections' layout.
 *
 * @param q Queries `[batch, time, heads·headDim]`.
 * @param k Keys `[batch, time, kvHeads·headDim]`.
 * @param v Values `[batch, time, kvHeads·headDim]`.
 * @param heads Head counts and size.
 * @returns The context `[batch, time, heads·headDim]` (heads merged, before the output
 *   projection), through the fused kernels wherever they serve the backend.
 */
export function causalAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  heads: AttentionHeads,
): tf.Tensor {
  if (!fusedAttentionActive() || q.dtype !== "float32") return plainAttention(q, k, v, heads);
  return fusedOp(heads, q.shape[0]!, q.shape[1]!)(q, k, v);
}

/**
 * The attention weights `softmax(scale·scores + mask)` over the last axis. Under a mask marked
 * by {@link markCausal} (whole sequences, square scores) and where the fused kernels serve the
 * backend (wasm and cpu-blas, fast paths on), one kernel forward and one backward
 * (`core/backend/causal_softmax_kernels.ts`: the mask is implied, never added); otherwise tfjs's
 * composition. This is the path of the training pass when a BLAS serves the products (else
 * {@link causalAttention} fuses the whole attention).
 *
 * @param scores `[batch, heads, queries, keys]` float32, `Q·Kᵀ` before scaling.
 * @param scale The factor, `1/√headDim`.
 * @param mask The additive mask, broadcast to `scores`.
 * @returns The weights, the shape of `scores`.
 */
export function maskedSoftmax(scores: tf.Tensor, scale: number, mask: tf.Tensor): tf.Tensor {
  const time = scores.shape[scores.rank - 1]!;
  const square = scores.shape[scores.rank - 2] === time;
  if (!(isCausal(mask) && square && scores.dtype === "float32" && fastPathsActive())) {
    return tf.softmax(tf.add(tf.mul(scores, scale), mask), -1);
  }
  const attrs = { scale, time };
  const op = tf.customGrad(
    ((x: tf.Tensor, save: tf.GradSaveFunc) => {
      const [p] = runKernel("ProbsftCausalSoftmax", { x }, attrs);
      save([p!]);
      return {
        value: p!,
        gradFunc: (dy: tf.Tensor, [sp]: tf.Tensor[]) =>
          runKernel("ProbsftCausalSoftmaxGrad", { dy, p: sp! }, attrs)[0]!,
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  return op(scores) as tf.Tensor;
}
