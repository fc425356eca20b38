/**
 * The fused causal attention (`attention_kernel.ts`) on `cpu-blas`: the same per-head products
 * as the wasm SIMD variant (`attention_simd.ts`), through the BLAS (`openblas.ts`: OpenBLAS or
 * the bundled product) with row strides `heads·headDim` straight into the projections' layout, so
 * no head transposes are built, and the causal softmax and its Jacobian as the native row kernels
 * (`native_rows.ts`). Products run over whole `[time, time]` squares; the softmax then zeroes
 * what lies above the diagonal, and the backward products multiply those zeros.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { isCpuBackend } from "./js_kernel.ts";
import { nativeRowKernels } from "./native_rows.ts";
import { noTrans, sgemm, trans } from "./openblas.ts";
import type { AttentionAttrs } from "./_attention_attrs.ts";

/** The BLAS and the row kernels, where both serve the active (cpu) backend. */
function parts() {
  if (!isCpuBackend(tf.backend())) return null;
  const gemm = sgemm(), rows = nativeRowKernels();
  return gemm === null || rows === null ? null : { gemm, rows };
}

/**
 * Whether {@link blasAttentionForward} and {@link blasAttentionBackward} serve the active backend.
 *
 * @returns True on a cpu backend with a BLAS and the native row kernels.
 */
export function blasAttentionServes(): boolean {
  return parts() !== null;
}

/**
 * The forward pass: for each row and head `S = Q·Kᵀ`, `P = causalSoftmax(scale·S)`, `O = P·V`.
 *
 * @param inputs `q` `[batch, time, heads·headDim]`, `k` and `v` `[batch, time, kvHeads·headDim]`.
 * @param outputs The context (as `q`) and the probabilities `[batch, heads, time, time]`.
 * @param a The attributes.
 * @returns False (nothing written) where the BLAS or the native row kernels do not serve.
 */
export function blasAttentionForward(
  [q, k, v]: readonly [Float32Array, Float32Array, Float32Array],
  [out, probs]: readonly [Float32Array, Float32Array],
  a: AttentionAttrs,
): boolean {
  const p = parts();
  if (p === null) return false;
  const { heads, kvHeads, scale, batch, time, headDim } = a;
  const group = heads / kvHeads;
  const qW = heads * headDim, kW = kvHeads * headDim, square = time * time;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const qAt = b * time * qW + h * headDim;
      const kvAt = b * time * kW + Math.floor(h / group) * headDim;
      const s = probs.subarray((b * heads + h) * square, (b * heads + h + 1) * square);
      p.gemm(
        noTrans,
        trans,
        time,
        time,
        headDim,
        1,
        q.subarray(qAt),
        qW,
        k.subarray(kvAt),
        kW,
        0,
        s,
        time,
      );
      p.rows.softmaxCausal(s, s, time, 1, scale);
      p.gemm(
        noTrans,
        noTrans,
        time,
        headDim,
        time,
        1,
        s,
        time,
        v.subarray(kvAt),
        kW,
        0,
        out.subarray(qAt),
        qW,
      );
    }
  }
  return true;
}

/**
 * The backward pass: `dP = dO·Vᵀ`, `dS = scale·P ⊙ (dP − rowsum(P ⊙ dP))`, `dQ = dS·K`,
 * `dK = Σ_group dSᵀ·Q`, `dV = Σ_group Pᵀ·dO`.
 *
 * @param inputs `dy` (as `q`), `q`, `k`, `v` and the saved probabilities.
 * @param outputs `dq`, `dk`, `dv` (shapes of `q`, `k`, `v`).
 * @param a The attributes.
 * @returns False (nothing written) where the BLAS or the native row kernels do not serve.
 */
export function blasAttentionBackward(
  [dy, q, k, v, probs]: readonly [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ],
  [dq, dk, dv]: readonly [Float32Array, Float32Array, Float32Array],
  a: AttentionAttrs,
): boolean {
  const p = parts();
  if (p === null) return false;
  const { heads, kvHeads, scale, batch, time, headDim } = a;
  const group = heads / kvHeads;
  const qW = heads * headDim, kW = kvHeads * headDim, square = time * time;
  const ds = new Float32Array(square);
  for (let b = 0; b < batch; b++) {
    for (let kv = 0; kv < kvHeads; kv++) {
      const kvAt = b * time * kW + kv * headDim;
      for (let g = 0; g < group; g++) {
        const h = kv * group + g;
        const qAt = b * time * qW + h * headDim;
        const ps = probs.subarray((b * heads + h) * square, (b * heads + h + 1) * square);
        const dyAt = dy.subarray(qAt), qAtV = q.subarray(qAt);
        // The group's heads sum into the shared key/value head's gradients.
        const beta = g > 0 ? 1 : 0;
        p.gemm(noTrans, trans, time, time, headDim, 1, dyAt, qW, v.subarray(kvAt), kW, 0, ds, time);
        p.rows.softmaxCausalGrad(ds, ps, ds, time, 1, scale);
        p.gemm(
          noTrans,
          noTrans,
          time,
          headDim,
          time,
          1,
          ds,
          time,
          k.subarray(kvAt),
          kW,
          0,
          dq.subarray(qAt),
          qW,
        );
        p.gemm(
          trans,
          noTrans,
          time,
          headDim,
          time,
          1,
          ds,
          time,
          qAtV,
          qW,
          beta,
          dk.subarray(kvAt),
          kW,
        );
        p.gemm(
          trans,
          noTrans,
          time,
          headDim,
          time,
          1,
          ps,
          time,
          dyAt,
          qW,
          beta,
          dv.subarray(kvAt),
          kW,
        );
      }
    }
  }
  return true;
}
