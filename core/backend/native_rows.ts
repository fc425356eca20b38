/**
 * The cpu-blas backend's compiled row kernels: the C loops of `native/rows.c` (the same exp
 * polynomial and rational tanh as the wasm SIMD module, vectorized by gcc for AVX2/FMA) over the
 * backend's typed arrays, through the bundled library of `native_sgemm.ts`. The fused kernels
 * (`target_log_prob_kernels.ts`, `causal_softmax_kernels.ts`, `fused_kernels.ts`) call them on
 * cpu-blas in place of their JavaScript loops, unless the row kernels are off
 * (`setSimdRows(false)`, `PROBSFT_SIMD_ROWS=0`) or the library cannot be opened here.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { isCpuBackend } from "./js_kernel.ts";
import { nativeLibrary } from "./native_sgemm.ts";
import { rowKernelsEnabled } from "./wasm_simd.ts";

/** The row kernels; every array is row-major float32 (ids int32), outputs written in full. */
export interface NativeRowKernels {
  /**
   * Per row of `z [rows, v]`: `lse[r] = log Σ_j exp(z[r, j])`, `logp[r] = z[r, ids[r]] − lse[r]`
   * (0 read for an id outside `[0, v)`).
   */
  targetLogProb(
    z: Float32Array,
    ids: Int32Array,
    logp: Float32Array,
    lse: Float32Array,
    rows: number,
    v: number,
  ): void;
  /** `dz[r, j] = dy[r]·(1[j = ids[r]] − exp(z[r, j] − lse[r]))`. */
  targetLogProbGrad(
    dy: Float32Array,
    z: Float32Array,
    ids: Int32Array,
    lse: Float32Array,
    dz: Float32Array,
    rows: number,
    v: number,
  ): void;
  /** `p` = the causal softmax of `squares` `[time, time]` squares of `scale·x` (0 above). */
  softmaxCausal(
    x: Float32Array,
    p: Float32Array,
    time: number,
    squares: number,
    scale: number,
  ): void;
  /** `dx = scale·p ⊙ (dy − rowsum(p ⊙ dy))`, 0 above the diagonal. */
  softmaxCausalGrad(
    dy: Float32Array,
    p: Float32Array,
    dx: Float32Array,
    time: number,
    squares: number,
    scale: number,
  ): void;
  /** GPT-2's tanh GELU of `x` into `y`. */
  geluTanh(x: Float32Array, y: Float32Array): void;
  /** `dx = dy·gelu′(x)` of the tanh GELU. */
  geluTanhGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
}

let bound: NativeRowKernels | null | undefined;

function bind(): NativeRowKernels | null {
  const lib = nativeLibrary();
  if (lib === null) return null;
  return {
    targetLogProb: (z, ids, logp, lse, rows, v) =>
      lib.probsft_target_log_prob(z, ids, logp, lse, rows, v),
    targetLogProbGrad: (dy, z, ids, lse, dz, rows, v) =>
      lib.probsft_target_log_prob_grad(dy, z, ids, lse, dz, rows, v),
    softmaxCausal: (x, p, time, squares, scale) =>
      lib.probsft_softmax_causal(x, p, time, squares, scale),
    softmaxCausalGrad: (dy, p, dx, time, squares, scale) =>
      lib.probsft_softmax_causal_grad(dy, p, dx, time, squares, scale),
    geluTanh: (x, y) => lib.probsft_gelu_tanh(x, y, BigInt(x.length)),
    geluTanhGrad: (dy, x, dx) => lib.probsft_gelu_tanh_grad(dy, x, dx, BigInt(x.length)),
  };
}

/**
 * The native row kernels for the active backend.
 *
 * @returns The kernels on a cpu backend (cpu-blas) where the library opens and the row kernels
 *   are on; otherwise `null` (the caller's JavaScript loops run).
 */
export function nativeRowKernels(): NativeRowKernels | null {
  if (!rowKernelsEnabled() || !isCpuBackend(tf.backend())) return null;
  if (bound === undefined) bound = bind();
  return bound;
}
