/**
 * Causal attention's output and its gradients for q, k and v on one case, for tests that compare
 * the fused kernels with the plain composition.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { causalAttention } from "../backbones/attention.ts";

/** One attention shape. */
export interface AttentionCase {
  readonly batch: number;
  readonly time: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/**
 * Output `[batch, time, heads·headDim]` and the gradients for q, k, v of Σ w·attention (w fixed),
 * on q, k, v filled by `values` (seeds 1, 2, 3) and multiplied by `scale`, on the active backend.
 *
 * @param c The shape.
 * @param values Deterministic test values: `values(n, seed)`.
 * @param scale Multiplies q, k and v (larger scores sharpen the softmax).
 * @returns `[output, dq, dk, dv]` as arrays; no tensors are left behind.
 */
export function attentionAndGrads(
  c: AttentionCase,
  values: (n: number, seed: number) => Float32Array,
  scale = 1,
): Float32Array[] {
  return tf.tidy(() => {
    const heads = { heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim };
    const mk = (n: number, seed: number) =>
      tf.tensor3d(values(c.batch * c.time * n * c.headDim, seed).map((v) => scale * v), [
        c.batch,
        c.time,
        n * c.headDim,
      ]);
    const q = mk(c.heads, 1), k = mk(c.kvHeads, 2), v = mk(c.kvHeads, 3);
    const y = causalAttention(q, k, v, heads);
    const w = tf.tensor(values(y.size, 9), y.shape);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
      tf.sum(tf.mul(causalAttention(a, b, d, heads), w))
    )([q, k, v]);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}
