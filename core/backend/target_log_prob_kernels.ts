/**
 * The token loss's log-softmax, read at the target, as two kernels over `[rows, vocab]` logits
 * (registered with the other fused kernels, `fused_kernels.ts`):
 *
 * - `ProbsftTargetLogProb(z, ids)` → `logp [rows]`, `lse [rows]`: `lse = log Σ_j exp(z_j)`
 *   (max-shifted) and `logp = z[id] − lse`, where an id outside `[0, vocab)` (only ever on a
 *   masked position) reads 0 in place of its logit, as `targetLogit` in `core/loss.ts` does.
 * - `ProbsftTargetLogProbGrad(dy, z, ids, lse)` → `dz [rows, vocab]`:
 *   `dz_j = dy·(1[j = id] − exp(z_j − lse))`, the gradient of log-softmax at the target.
 *
 * They replace tfjs's `logSumExp` (max, subtract, exp, sum, log, add) and the gather of the
 * target, and in the backward pass the max's `Equal` mask, the one-hot and the products: two
 * passes over the logits instead of about a dozen. On wasm they run the SIMD module's f32x4 loops
 * (`simd/sgemm.as.ts`, polynomial exp, relative error ≤ 2e-7), on cpu-blas the native library's
 * (`native_rows.ts`, the same polynomial); elsewhere, or with the row kernels off, JavaScript
 * loops with float64 sums.
 *
 * @module
 */
import { f32, type HeapKernel, i32 } from "./js_kernel.ts";
import { nativeRowKernels } from "./native_rows.ts";
import { simdRowKernels } from "./wasm_simd.ts";

/** The forward kernel (see the module doc). */
const forward: HeapKernel = {
  name: "ProbsftTargetLogProb",
  inputNames: ["z", "ids"],
  outputs: (inputs) => {
    const rows = inputs[1]!.shape[0]!;
    return [{ shape: [rows], dtype: "float32" }, { shape: [rows], dtype: "float32" }];
  },
  run: ([z, ids], [logp, lse]) => {
    const zs = f32(z!), id = i32(ids!), lp = f32(logp!), l = f32(lse!);
    const rows = id.length, vocab = zs.length / Math.max(rows, 1);
    const simd = simdRowKernels();
    if (simd !== null) {
      // The SIMD loops leave each row's max in lse and its Σ exp(z − max) in logp.
      simd.rowMaxSumExp(zs.byteOffset, l.byteOffset, lp.byteOffset, rows, vocab);
      for (let r = 0; r < rows; r++) {
        const t = id[r]!;
        l[r] = l[r]! + Math.log(lp[r]!);
        lp[r] = (t >= 0 && t < vocab ? zs[r * vocab + t]! : 0) - l[r]!;
      }
      return;
    }
    const native = nativeRowKernels();
    if (native !== null) return native.targetLogProb(zs, id, lp, l, rows, vocab);
    for (let r = 0; r < rows; r++) {
      const at = r * vocab;
      let mx = -Infinity;
      for (let j = 0; j < vocab; j++) mx = Math.max(mx, zs[at + j]!);
      let sum = 0;
      for (let j = 0; j < vocab; j++) sum += Math.exp(zs[at + j]! - mx);
      const t = id[r]!;
      l[r] = mx + Math.log(sum);
      lp[r] = (t >= 0 && t < vocab ? zs[at + t]! : 0) - l[r]!;
    }
  },
};

/** The backward kernel (see the module doc). */
const backward: HeapKernel = {
  name: "ProbsftTargetLogProbGrad",
  inputNames: ["dy", "z", "ids", "lse"],
  outputs: (inputs) => [{ shape: [...inputs[1]!.shape], dtype: "float32" }],
  run: ([dy, z, ids, lse], [dz]) => {
    const g = f32(dy!), zs = f32(z!), id = i32(ids!), l = f32(lse!), out = f32(dz!);
    const rows = id.length, vocab = zs.length / Math.max(rows, 1);
    const simd = simdRowKernels();
    if (simd !== null) {
      simd.targetLogProbGrad(
        g.byteOffset,
        zs.byteOffset,
        id.byteOffset,
        l.byteOffset,
        out.byteOffset,
        rows,
        vocab,
      );
      return;
    }
    const native = nativeRowKernels();
    if (native !== null) return native.targetLogProbGrad(g, zs, id, l, out, rows, vocab);
    for (let r = 0; r < rows; r++) {
      const at = r * vocab, gr = g[r]!, lr = l[r]!, t = id[r]!;
      for (let j = 0; j < vocab; j++) out[at + j] = -gr * Math.exp(zs[at + j]! - lr);
      if (t >= 0 && t < vocab) out[at + t]! += gr;
    }
  },
};

/** Both kernels, for registration. */
export const targetLogProbKernels: ReadonlyArray<HeapKernel> = [forward, backward];
