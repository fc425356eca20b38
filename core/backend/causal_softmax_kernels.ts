/**
 * The attention's causal softmax as one kernel each way, for the training pass where a BLAS
 * serves the products (`backbones/attention.ts`, `causalSoftmax`; registered with the other fused
 * kernels, `fused_kernels.ts`), over consecutive `[time, time]` score squares:
 *
 * - `ProbsftCausalSoftmax(x)` → `p`: row `i` of each square is `softmax(scale·x[i, 0…i])` on and
 *   below the diagonal and 0 above it (the additive causal mask, without building it);
 * - `ProbsftCausalSoftmaxGrad(dy, p)` → `dx = scale·p ⊙ (dy − rowsum(p ⊙ dy))`, 0 above the
 *   diagonal.
 *
 * They replace the scale, the mask addition, tfjs's softmax (max, subtract, exp, sum, divide) and
 * their gradients (the mask's included) on `[batch, heads, time, time]`. On wasm they run the SIMD
 * module's f32x4 loops (`simd/sgemm.as.ts`: `softmaxCausal`, `softmaxCausalGrad`), on cpu-blas
 * the native library's (`native_rows.ts`), elsewhere or with the row kernels off JavaScript loops
 * with float64 row sums.
 *
 * @module
 */
import { f32, type HeapKernel, sameOutput } from "./js_kernel.ts";
import { nativeRowKernels } from "./native_rows.ts";
import { simdRowKernels } from "./wasm_simd.ts";

const forward: HeapKernel = {
  name: "ProbsftCausalSoftmax",
  inputNames: ["x"],
  outputs: sameOutput,
  run: ([x], [p], attrs) => {
    const xs = f32(x!), out = f32(p!), scale = attrs.scale as number;
    const time = attrs.time as number, squares = xs.length / (time * time);
    const simd = simdRowKernels();
    if (simd !== null) {
      out.set(xs);
      simd.softmaxCausal(out.byteOffset, time, squares, scale);
      return;
    }
    const native = nativeRowKernels();
    if (native !== null) return native.softmaxCausal(xs, out, time, squares, scale);
    for (let row = 0; row < squares * time; row++) {
      const i = row % time, at = row * time;
      let mx = -Infinity;
      for (let j = 0; j <= i; j++) mx = Math.max(mx, scale * xs[at + j]!);
      let sum = 0;
      for (let j = 0; j <= i; j++) {
        const e = Math.exp(scale * xs[at + j]! - mx);
        out[at + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j <= i; j++) out[at + j]! *= inv;
      out.fill(0, at + i + 1, at + time);
    }
  },
};

const backward: HeapKernel = {
  name: "ProbsftCausalSoftmaxGrad",
  inputNames: ["dy", "p"],
  outputs: sameOutput,
  run: ([dy, p], [dx], attrs) => {
    const g = f32(dy!), ps = f32(p!), out = f32(dx!), scale = attrs.scale as number;
    const time = attrs.time as number, squares = ps.length / (time * time);
    const simd = simdRowKernels();
    if (simd !== null) {
      out.set(g);
      for (let s = 0; s < squares; s++) {
        const at = 4 * s * time * time;
        simd.softmaxCausalGrad(ps.byteOffset + at, out.byteOffset + at, time, scale);
      }
      return;
    }
    const native = nativeRowKernels();
    if (native !== null) return native.softmaxCausalGrad(g, ps, out, time, squares, scale);
    for (let row = 0; row < squares * time; row++) {
      const i = row % time, at = row * time;
      let dot = 0;
      for (let j = 0; j <= i; j++) dot += ps[at + j]! * g[at + j]!;
      for (let j = 0; j <= i; j++) out[at + j] = scale * ps[at + j]! * (g[at + j]! - dot);
      out.fill(0, at + i + 1, at + time);
    }
  },
};

/** Both kernels, for registration. */
export const causalSoftmaxKernels: ReadonlyArray<HeapKernel> = [forward, backward];
