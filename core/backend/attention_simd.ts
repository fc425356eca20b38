/**
 * The fused causal attention of `attention_kernel.ts` on the wasm backend through the SIMD matrix
 * product (`wasm_simd.ts`): per row and head, the products `Q·Kᵀ`, `P·V` (forward) and `dO·Vᵀ`,
 * `dS·K`, `dSᵀ·Q`, `Pᵀ·dO` (backward) run as `[time, headDim]`/`[time, time]` products directly
 * in the projections' layout (row strides `heads·headDim`, no gathers), and only the causal
 * softmax and its Jacobian (`dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale`) are row kernels of the same
 * module (`softmaxCausal`, `softmaxCausalGrad`: f32x4, a polynomial exp), or JavaScript loops when
 * those are off (`setSimdRows(false)`, `PROBSFT_SIMD_ROWS=0`). The
 * products are over whole `[time, time]` squares: the part above the diagonal is computed and then
 * masked (forward) or multiplies zeros (backward), about twice the needed work at 5–10 times the
 * scalar kernel's speed. Sums are float32 (the scalar kernel's are float64).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { HeapView, WasmBackendInternals } from "./js_kernel.ts";
import { simdGemm, simdReserve, simdRowKernels } from "./wasm_simd.ts";
import type { AttentionAttrs } from "./_attention_attrs.ts";

/**
 * The forward pass (context and probabilities) through the SIMD product, in place on the heap.
 *
 * @param inputs Views of `q` `[batch, time, heads·headDim]`, `k` and `v`
 *   `[batch, time, kvHeads·headDim]` on the wasm heap.
 * @param outputs Views of the context (as `q`) and the probabilities `[batch, heads, time, time]`.
 * @param a The attributes.
 * @returns False (nothing written) when the SIMD kernel does not serve the backend.
 */
export function simdAttentionForward(
  inputs: ReadonlyArray<HeapView>,
  outputs: ReadonlyArray<HeapView>,
  a: AttentionAttrs,
): boolean {
  const { heads, kvHeads, scale, batch, time, headDim } = a;
  const offsets = [...inputs, ...outputs].map((v) => v.byteOffset);
  const dim = Math.max(time, headDim);
  const heap = simdReserve(dim, dim, dim, 0);
  if (heap === null) return false;
  const [qOff, kOff, vOff, outOff, pOff] = offsets as [number, number, number, number, number];
  const backend = tf.backend() as unknown as WasmBackendInternals;
  // The softmax rows in the module (f32x4, polynomial exp); JavaScript loops when they are off.
  const rows = simdRowKernels();
  const probs = new Float32Array(heap.buffer, pOff, batch * heads * time * time);
  const group = heads / kvHeads;
  const qW = heads * headDim, kW = kvHeads * headDim;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kv = Math.floor(h / group);
      const pBase = (b * heads + h) * time * time;
      const q = qOff + 4 * (b * time * qW + h * headDim);
      const kvAt = 4 * (b * time * kW + kv * headDim);
      // S = Q·Kᵀ into the probabilities' square.
      simdGemm(backend, {
        transA: false,
        transB: true,
        m: time,
        n: time,
        k: headDim,
        a: q,
        lda: qW,
        b: kOff + kvAt,
        ldb: kW,
        c: pOff + 4 * pBase,
        ldc: time,
      });
      if (rows !== null) rows.softmaxCausal(pOff + 4 * pBase, time, 1, scale);
      else {
        for (let i = 0; i < time; i++) {
          const r = pBase + i * time;
          let max = -Infinity;
          for (let j = 0; j <= i; j++) {
            const x = probs[r + j]! * scale;
            probs[r + j] = x;
            if (x > max) max = x;
          }
          let sum = 0;
          for (let j = 0; j <= i; j++) {
            const e = Math.exp(probs[r + j]! - max);
            probs[r + j] = e;
            sum += e;
          }
          const inv = 1 / sum;
          for (let j = 0; j <= i; j++) probs[r + j]! *= inv;
          for (let j = i + 1; j < time; j++) probs[r + j] = 0;
        }
      }
      // O = P·V in the projections' layout.
      simdGemm(backend, {
        transA: false,
        transB: false,
        m: time,
        n: headDim,
        k: time,
        a: pOff + 4 * pBase,
        lda: time,
        b: vOff + kvAt,
        ldb: kW,
        c: outOff + 4 * (b * time * qW + h * headDim),
        ldc: qW,
      });
    }
  }
  return true;
}

/**
 * The backward pass (gradients of `q`, `k`, `v`) through the SIMD product, in place on the heap.
 *
 * @param inputs Views of `dy` (as `q`), `q`, `k`, `v` and the saved probabilities.
 * @param outputs Views of `dq`, `dk`, `dv` (shapes of `q`, `k`, `v`).
 * @param a The attributes.
 * @returns False (nothing written) when the SIMD kernel does not serve the backend.
 */
export function simdAttentionBackward(
  inputs: ReadonlyArray<HeapView>,
  outputs: ReadonlyArray<HeapView>,
  a: AttentionAttrs,
): boolean {
  const { heads, kvHeads, scale, batch, time, headDim } = a;
  const offsets = [...inputs, ...outputs].map((v) => v.byteOffset);
  const dim = Math.max(time, headDim);
  const heap = simdReserve(dim, dim, dim, 4 * time * time);
  if (heap === null) return false;
  const [dyOff, qOff, kOff, vOff, pOff, dqOff, dkOff, dvOff] = offsets as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const backend = tf.backend() as unknown as WasmBackendInternals;
  // The softmax rows in the module (f32x4, polynomial exp); JavaScript loops when they are off.
  const rows = simdRowKernels();
  const probs = new Float32Array(heap.buffer, pOff, batch * heads * time * time);
  const ds = new Float32Array(heap.buffer, heap.work, time * time);
  const group = heads / kvHeads;
  const qW = heads * headDim, kW = kvHeads * headDim;
  for (let b = 0; b < batch; b++) {
    for (let kv = 0; kv < kvHeads; kv++) {
      const kvAt = 4 * (b * time * kW + kv * headDim);
      for (let g = 0; g < group; g++) {
        const h = kv * group + g;
        const pBase = (b * heads + h) * time * time;
        const qAt = 4 * (b * time * qW + h * headDim);
        // dP = dO·Vᵀ.
        simdGemm(backend, {
          transA: false,
          transB: true,
          m: time,
          n: time,
          k: headDim,
          a: dyOff + qAt,
          lda: qW,
          b: vOff + kvAt,
          ldb: kW,
          c: heap.work,
          ldc: time,
        });
        // dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale on and below the diagonal, 0 above.
        if (rows !== null) rows.softmaxCausalGrad(pOff + 4 * pBase, heap.work, time, scale);
        else {
          for (let i = 0; i < time; i++) {
            const r = i * time, pr = pBase + r;
            let rowsum = 0;
            for (let j = 0; j <= i; j++) rowsum += probs[pr + j]! * ds[r + j]!;
            for (let j = 0; j <= i; j++) {
              ds[r + j] = probs[pr + j]! * (ds[r + j]! - rowsum) * scale;
            }
            for (let j = i + 1; j < time; j++) ds[r + j] = 0;
          }
        }
        // dQ = dS·K; dK (+)= dSᵀ·Q; dV (+)= Pᵀ·dO (the group's heads summed).
        simdGemm(backend, {
          transA: false,
          transB: false,
          m: time,
          n: headDim,
          k: time,
          a: heap.work,
          lda: time,
          b: kOff + kvAt,
          ldb: kW,
          c: dqOff + qAt,
          ldc: qW,
        });
        simdGemm(backend, {
          transA: true,
          transB: false,
          m: time,
          n: headDim,
          k: time,
          a: heap.work,
          lda: time,
          b: qOff + qAt,
          ldb: qW,
          c: dkOff + kvAt,
          ldc: kW,
          accumulate: g > 0,
        });
        simdGemm(backend, {
          transA: true,
          transB: false,
          m: time,
          n: headDim,
          k: time,
          a: pOff + 4 * pBase,
          lda: time,
          b: dyOff + qAt,
          ldb: qW,
          c: dvOff + kvAt,
          ldc: kW,
          accumulate: g > 0,
        });
      }
    }
  }
  return true;
}
