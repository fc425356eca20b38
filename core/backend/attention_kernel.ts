/**
 * Fused causal self-attention for training, as two JavaScript kernels over the wasm heap or
 * `cpu-blas`'s typed arrays (registered through `js_kernel.ts`):
 *
 * - `ProbsftCausalAttention`: for each row and head, the scores `S = Q·Kᵀ·scale`, the causal
 *   mask (key j visible to query i when j ≤ i), the softmax over keys and the context `P·V`, in
 *   one pass per query; it returns the context and the probabilities `P` for the backward pass.
 * - `ProbsftCausalAttentionGrad`: the gradients from `P` (Vaswani et al. 2017, eq. 1; the
 *   softmax Jacobian as in FlashAttention, Dao et al. 2022, appendix B.2):
 *   `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ⊙ (dP − rowsum(P ⊙ dP))`, `dQ = dS·K·scale`,
 *   `dK = dSᵀ·Q·scale`.
 *
 * Queries, keys and values come in the layout of the projections, `[batch, time, heads·headDim]`
 * (no head transposes), and the context goes out in the same layout. Grouped-query attention:
 * query head `h` reads key/value head `⌊h / (heads / kvHeads)⌋`, and the key/value gradients
 * sum over the heads of a group. Sums are taken in float64 and stored as float32.
 *
 * On the wasm backend (one thread, no BLAS) this replaces about 20 tfjs ops per block, among them
 * two batched products over `batch·heads` small matrices that wasm runs at about 1 GFLOP/s.
 * There, when the SIMD matrix product serves wasm (`wasm_simd.ts`, unless `PROBSFT_SIMD=0`), both
 * kernels run as per-head SIMD products instead (`attention_simd.ts`); on `cpu-blas` as per-head
 * BLAS products with the native softmax (`attention_blas.ts`); the loops below serve the rest.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { f32, type HeapKernel, registerHeapKernel } from "./js_kernel.ts";
import { fastPathsActive } from "./fused_kernels.ts";
import { simdAttentionBackward, simdAttentionForward } from "./attention_simd.ts";
import { blasAttentionBackward, blasAttentionForward } from "./attention_blas.ts";
import type { AttentionAttrs } from "./_attention_attrs.ts";

/**
 * Copies head `h` of row `b` of `x` (`[batch, time, n·dh]`) into `rows` (`[time, dh]`) and its
 * transpose into `cols` (`[dh, time]`), so that every inner loop below is a dot product over
 * contiguous memory with a scalar accumulator (what V8 compiles best).
 */
function gatherHead(
  x: Float32Array,
  rows: Float64Array,
  cols: Float64Array,
  b: number,
  h: number,
  time: number,
  n: number,
  dh: number,
): void {
  const width = n * dh;
  for (let t = 0; t < time; t++) {
    const from = (b * time + t) * width + h * dh, to = t * dh;
    for (let d = 0; d < dh; d++) {
      const value = x[from + d]!;
      rows[to + d] = value;
      cols[d * time + t] = value;
    }
  }
}

/** `Σ_{d<n} a[i + d]·b[j + d]`. */
function dot(a: Float64Array, i: number, b: Float64Array, j: number, n: number): number {
  let s0 = 0, s1 = 0;
  let d = 0;
  for (; d + 1 < n; d += 2) {
    s0 += a[i + d]! * b[j + d]!;
    s1 += a[i + d + 1]! * b[j + d + 1]!;
  }
  if (d < n) s0 += a[i + d]! * b[j + d]!;
  return s0 + s1;
}

/** Scratch arrays of one head, `[time, dh]` or `[dh, time]` or `[time, time]`. */
interface Scratch {
  readonly q: Float64Array;
  readonly qT: Float64Array;
  readonly k: Float64Array;
  readonly kT: Float64Array;
  readonly v: Float64Array;
  readonly vT: Float64Array;
  readonly o: Float64Array;
  readonly oT: Float64Array;
  readonly p: Float64Array;
  readonly pT: Float64Array;
}

function scratch(time: number, dh: number): Scratch {
  const td = () => new Float64Array(time * dh);
  const tt = () => new Float64Array(time * time);
  return {
    q: td(),
    qT: td(),
    k: td(),
    kT: td(),
    v: td(),
    vT: td(),
    o: td(),
    oT: td(),
    p: tt(),
    pT: tt(),
  };
}

const forwardKernel: HeapKernel = {
  name: "ProbsftCausalAttention",
  inputNames: ["q", "k", "v"],
  outputs: (inputs, attrs) => {
    const [batch, time] = inputs[0]!.shape as [number, number, number];
    return [
      { shape: [...inputs[0]!.shape], dtype: "float32" },
      { shape: [batch, attrs.heads as number, time, time], dtype: "float32" },
    ];
  },
  run: ([qIn, kIn, vIn], [outV, probsV], attrs) => {
    const { heads, kvHeads, scale, batch, time, headDim } = attrs as unknown as AttentionAttrs;
    // On wasm with the SIMD product (attention_simd.ts), the same in products over whole heads.
    if (
      simdAttentionForward([qIn!, kIn!, vIn!], [outV!, probsV!], attrs as unknown as AttentionAttrs)
    ) return;
    const q = f32(qIn!), k = f32(kIn!), v = f32(vIn!), out = f32(outV!), probs = f32(probsV!);
    // On cpu-blas, per-head BLAS products and the native softmax (attention_blas.ts).
    if (blasAttentionForward([q, k, v], [out, probs], attrs as unknown as AttentionAttrs)) return;
    const group = heads / kvHeads;
    const s = scratch(time, headDim);
    const row = new Float64Array(time);
    probs.fill(0);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const kv = Math.floor(h / group);
        gatherHead(q, s.q, s.qT, b, h, time, heads, headDim);
        if (h % group === 0) {
          gatherHead(k, s.k, s.kT, b, kv, time, kvHeads, headDim);
          gatherHead(v, s.v, s.vT, b, kv, time, kvHeads, headDim);
        }
        const pBase = (b * heads + h) * time * time;
        for (let i = 0; i < time; i++) {
          const qi = i * headDim;
          let max = -Infinity;
          for (let j = 0; j <= i; j++) {
            const x = dot(s.q, qi, s.k, j * headDim, headDim) * scale;
            row[j] = x;
            if (x > max) max = x;
          }
          let sum = 0;
          for (let j = 0; j <= i; j++) {
            const e = Math.exp(row[j]! - max);
            row[j] = e;
            sum += e;
          }
          const inv = 1 / sum, pRow = pBase + i * time;
          for (let j = 0; j <= i; j++) {
            const p = Math.fround(row[j]! * inv);
            row[j] = p;
            probs[pRow + j] = p;
          }
          // out_i[d] = Σ_j P_ij·V_j[d]: a dot product with column d of V.
          const o = (b * time + i) * heads * headDim + h * headDim;
          for (let d = 0; d < headDim; d++) out[o + d] = dot(row, 0, s.vT, d * time, i + 1);
        }
      }
    }
  },
};

const backwardKernel: HeapKernel = {
  name: "ProbsftCausalAttentionGrad",
  inputNames: ["dy", "q", "k", "v", "probs"],
  outputs: (inputs) =>
    [1, 2, 3].map((i) => ({
      shape: [...inputs[i]!.shape],
      dtype: "float32" as const,
    })),
  run: ([dyIn, qIn, kIn, vIn, pIn], [dqV, dkV, dvV], attrs) => {
    const { heads, kvHeads, scale, batch, time, headDim } = attrs as unknown as AttentionAttrs;
    if (
      simdAttentionBackward(
        [dyIn!, qIn!, kIn!, vIn!, pIn!],
        [dqV!, dkV!, dvV!],
        attrs as unknown as AttentionAttrs,
      )
    ) return;
    const dy = f32(dyIn!), q = f32(qIn!), k = f32(kIn!), v = f32(vIn!), probs = f32(pIn!);
    const dq = f32(dqV!), dk = f32(dkV!), dv = f32(dvV!);
    if (
      blasAttentionBackward([dy, q, k, v, probs], [dq, dk, dv], attrs as unknown as AttentionAttrs)
    ) return;
    const group = heads / kvHeads;
    const s = scratch(time, headDim);
    // dS (scaled) by rows and by columns, and the key/value gradients of the group, [time, dh].
    const ds = s.p, dsT = s.pT;
    const pT = new Float64Array(time * time);
    const dkAcc = new Float64Array(time * headDim), dvAcc = new Float64Array(time * headDim);
    for (let b = 0; b < batch; b++) {
      for (let kv = 0; kv < kvHeads; kv++) {
        gatherHead(k, s.k, s.kT, b, kv, time, kvHeads, headDim);
        gatherHead(v, s.v, s.vT, b, kv, time, kvHeads, headDim);
        dkAcc.fill(0);
        dvAcc.fill(0);
        for (let g = 0; g < group; g++) {
          const h = kv * group + g;
          gatherHead(q, s.q, s.qT, b, h, time, heads, headDim);
          gatherHead(dy, s.o, s.oT, b, h, time, heads, headDim);
          const pBase = (b * heads + h) * time * time;
          ds.fill(0);
          dsT.fill(0);
          pT.fill(0);
          for (let i = 0; i < time; i++) {
            const oi = i * headDim, pRow = pBase + i * time, r = i * time;
            // dP_ij = dO_i·V_j; rowsum(P ⊙ dP); dS_ij = P_ij·(dP_ij − rowsum)·scale.
            let rowsum = 0;
            for (let j = 0; j <= i; j++) {
              const dp = dot(s.o, oi, s.v, j * headDim, headDim);
              ds[r + j] = dp;
              rowsum += probs[pRow + j]! * dp;
            }
            for (let j = 0; j <= i; j++) {
              const p = probs[pRow + j]!;
              const g2 = p * (ds[r + j]! - rowsum) * scale;
              ds[r + j] = g2;
              dsT[j * time + i] = g2;
              pT[j * time + i] = p;
            }
            // dQ_i[d] = Σ_j dS_ij·K_j[d].
            const o = (b * time + i) * heads * headDim + h * headDim;
            for (let d = 0; d < headDim; d++) dq[o + d] = dot(ds, r, s.kT, d * time, i + 1);
          }
          // dK_j[d] += Σ_{i≥j} dS_ij·Q_i[d]; dV_j[d] += Σ_{i≥j} P_ij·dO_i[d].
          for (let j = 0; j < time; j++) {
            const c = j * time + j, n = time - j, at = j * headDim;
            for (let d = 0; d < headDim; d++) {
              dkAcc[at + d]! += dot(dsT, c, s.qT, d * time + j, n);
              dvAcc[at + d]! += dot(pT, c, s.oT, d * time + j, n);
            }
          }
        }
        const kvW = kvHeads * headDim;
        for (let t = 0; t < time; t++) {
          const o = (b * time + t) * kvW + kv * headDim, from = t * headDim;
          for (let d = 0; d < headDim; d++) {
            dk[o + d] = dkAcc[from + d]!;
            dv[o + d] = dvAcc[from + d]!;
          }
        }
      }
    }
  },
};

const registered = new Set<string>();

/**
 * Whether the fused attention kernels serve the current backend (wherever the fused fast paths
 * of `fused_kernels.ts` do: wasm and cpu-blas, unless `setFastPaths(false)`); registers them on
 * first use.
 *
 * @returns True when {@link causalAttention}-style callers should use the kernels.
 */
export function fusedAttentionActive(): boolean {
  if (!fastPathsActive()) return false;
  const backend = tf.getBackend();
  if (!registered.has(backend)) {
    registerHeapKernel(forwardKernel, backend);
    registerHeapKernel(backwardKernel, backend);
    registered.add(backend);
  }
  return true;
}
