/**
 * Fused JavaScript kernels of the cached decoding step (`backbones/decode_step.ts`), registered
 * with tfjs under names prefixed `ProbsftDecode` on the wasm backend (in place on the wasm heap)
 * and on the cpu backends (`cpu`, `cpu-blas`: on their typed arrays):
 *
 * - `ProbsftDecodeEmbed`: token rows (plus learned position rows) of `[N]` ids, `[N, d]`;
 * - `ProbsftDecodeResidualNorm`: `h + delta + bias` and its LayerNorm or RMSNorm in one pass,
 *   optionally only the norm of each row's last position;
 * - `ProbsftDecodeAttention`: bias, rotary embedding, the write of the new keys and values into
 *   a preallocated cache `[batch, kvHeads, slots, headDim]` (in place: the cache tensor is
 *   changed) and causal attention of every head over the row's cached keys, left padding skipped;
 * - `ProbsftDecodeActivation`: bias and GELU (exact or tanh form), or SwiGLU's `silu(gate)·up`.
 *
 * They hold no state: the caller owns the cache tensors. Matrix products stay tfjs `BatchMatMul`
 * (OpenBLAS's sgemm on wasm when installed). Tests check a step built from them against the plain
 * tfjs decoding on the `cpu` reference backend to 1e-4.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { f32, type HeapKernel, i32, registerHeapKernel } from "./js_kernel.ts";
import { noTrans, type Sgemm, sgemm, trans } from "./openblas.ts";
import { blasActive } from "./wasm_blas.ts";
import { erf, sqrt2OverPi, tanh } from "./_rational.ts";

/** The backends the decode kernels run on. */
export const decodeKernelBackends: ReadonlyArray<string> = ["wasm", "cpu", "cpu-blas"];

const registered = new Set<string>();

/**
 * Registers the decode kernels for the active backend on first use.
 *
 * @returns True when the active backend is one of {@link decodeKernelBackends} (the kernels are
 *   then registered), false otherwise.
 */
export function decodeKernelsReady(): boolean {
  const backend = tf.getBackend();
  if (!decodeKernelBackends.includes(backend)) return false;
  if (!registered.has(backend)) {
    for (const kernel of decodeKernels) registerHeapKernel(kernel, backend);
    registered.add(backend);
  }
  return true;
}

const fround = Math.fround;

let scratch = new Float64Array(256);
function scratchOf(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(Math.max(size, 2 * scratch.length));
  return scratch;
}

/** Attributes of `ProbsftDecodeResidualNorm`. */
export interface ResidualNormAttrs {
  /** Add `delta` (and `bias` when `deltaBias`) to `h`; otherwise `h` passes through. */
  readonly residual: boolean;
  /** `bias` is added to `delta`. */
  readonly deltaBias: boolean;
  /** `layer` (mean and variance, then `·w + b`) or `rms` (`x / √(mean(x²) + eps) · w`). */
  readonly norm: "layer" | "rms";
  /** Epsilon of the norm. */
  readonly eps: number;
  /** 0: normalise every row; T > 0: only the last of each group of T rows (output `[N/T, d]`). */
  readonly lastOf: number;
}

/** Attributes of `ProbsftDecodeAttention`. */
export interface AttentionAttrs {
  /** New positions per row (T); inputs have N = batch·T rows. */
  readonly time: number;
  /** Cache slot of each row's first new position. */
  readonly slot: number;
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (divides `heads`; query head h reads kv head ⌊h / (heads/kvHeads)⌋). */
  readonly kvHeads: number;
  /** Size of one head. */
  readonly headDim: number;
  /** Column offsets of q, k and v within their inputs (the same fused tensor, or three). */
  readonly cols: ReadonlyArray<number>;
  /** Row strides of the q, k and v inputs. */
  readonly strides: ReadonlyArray<number>;
  /** Whether the bias inputs are added (at the same column offsets). */
  readonly bias: boolean;
  /** Rotary base, or 0 for none (learned positions). */
  readonly theta: number;
}

/** SiLU as the plain path computes it in float32: `x·σ(x)`. */
function silu(x: number): number {
  return fround(x * fround(1 / (1 + Math.exp(-x))));
}

/** GELU, tanh form, as the fused `ProbsftGeluTanh` kernel computes it. */
function geluTanh(x: number): number {
  return 0.5 * x * (1 + tanh(sqrt2OverPi * (x + 0.044715 * x * x * x)));
}

/** Exact-form GELU, `0.5·x·(1 + erf(x/√2))`. */
function geluErf(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

/** Per-call scratch arrays (JavaScript memory), grown as needed and reused across calls. */
const pool = new Map<string, Float32Array>();
function buffer(name: string, size: number): Float32Array {
  let b = pool.get(name);
  if (b === undefined || b.length < size) {
    b = new Float32Array(Math.max(size, 2 * (b?.length ?? 0)));
    pool.set(name, b);
  }
  return b.length === size ? b : b.subarray(0, size);
}

let attentionBlas = true;

/**
 * Lets the decode kernels use OpenBLAS's sgemm (the one-kernel block `ProbsftDecodeLayer` and the
 * attention's products) where the backend's own products use it (the default), or forces the
 * kernel chain with JavaScript attention (for tests comparing the two).
 *
 * @param on Whether sgemm may be used.
 */
export function setDecodeAttentionBlas(on: boolean): void {
  attentionBlas = on;
}

/** `c[n × out] = x[n × in] · w[:, col … col + out]` with `w` of row stride `stride`. */
function matMulInto(
  gemm: Sgemm,
  x: Float32Array,
  n: number,
  inDim: number,
  w: Float32Array,
  col: number,
  stride: number,
  outDim: number,
  c: Float32Array,
): void {
  gemm(noTrans, noTrans, n, outDim, inDim, 1, x, inDim, w.subarray(col), stride, 0, c, outDim);
}

/**
 * `hOut = h + (delta + bias)` (or `h`), then the norm of every row, or of the last of each group
 * of `lastOf` rows, into `y`.
 */
function residualNorm(
  hs: Float32Array,
  ds: Float32Array | null,
  bs: Float32Array | null,
  ws: Float32Array,
  nb: Float32Array | null,
  ho: Float32Array,
  ys: Float32Array,
  eps: number,
  lastOf: number,
): void {
  const d = ws.length, n = hs.length / d;
  if (ds === null) {
    if (ho !== hs) ho.set(hs);
  } else if (bs !== null) {
    for (let r = 0; r < n; r++) {
      const at = r * d;
      for (let j = 0; j < d; j++) ho[at + j] = hs[at + j]! + fround(ds[at + j]! + bs[j]!);
    }
  } else for (let i = 0; i < hs.length; i++) ho[i] = hs[i]! + ds[i]!;
  const step = lastOf > 0 ? lastOf : 1;
  for (let r = step - 1, k = 0; r < n; r += step, k++) {
    const at = r * d, out = k * d;
    if (nb !== null) {
      let sum = 0;
      for (let j = 0; j < d; j++) sum += ho[at + j]!;
      const mu = sum / d;
      let sq = 0;
      for (let j = 0; j < d; j++) {
        const c = ho[at + j]! - mu;
        sq += c * c;
      }
      const inv = 1 / Math.sqrt(sq / d + eps);
      for (let j = 0; j < d; j++) ys[out + j] = (ho[at + j]! - mu) * inv * ws[j]! + nb[j]!;
    } else {
      let sq = 0;
      for (let j = 0; j < d; j++) sq += ho[at + j]! * ho[at + j]!;
      const inv = 1 / Math.sqrt(sq / d + eps);
      for (let j = 0; j < d; j++) ys[out + j] = ho[at + j]! * inv * ws[j]!;
    }
  }
}

/** Activation in place over `o` (`[n, m]`): bias, then GELU / tanh GELU / SiLU, then `· (up + ub)`. */
function activate(
  o: Float32Array,
  bias: Float32Array | null,
  kind: string,
  up: Float32Array | null,
  upBias: Float32Array | null,
): void {
  const m = bias?.length ?? upBias?.length ?? o.length, n = o.length / m;
  if (bias !== null) {
    for (let r = 0; r < n; r++) {
      const at = r * m;
      for (let j = 0; j < m; j++) o[at + j] = o[at + j]! + bias[j]!;
    }
  }
  if (kind === "silu") { for (let i = 0; i < o.length; i++) o[i] = silu(o[i]!); }
  else if (kind === "gelu_new") { for (let i = 0; i < o.length; i++) o[i] = geluTanh(o[i]!); }
  else for (let i = 0; i < o.length; i++) o[i] = geluErf(o[i]!);
  if (up === null) return;
  if (upBias !== null) {
    for (let r = 0; r < n; r++) {
      const at = r * m;
      for (let j = 0; j < m; j++) o[at + j] = o[at + j]! * fround(up[at + j]! + upBias[j]!);
    }
  } else for (let i = 0; i < o.length; i++) o[i] = o[i]! * up[i]!;
}

/** Where q, k and v sit: their arrays, column offsets, row strides and biases. */
interface QkvSource {
  readonly src: ReadonlyArray<Float32Array>;
  readonly bias: ReadonlyArray<Float32Array> | null;
}

/** Attributes of `ProbsftDecodeLayer` (with those of {@link AttentionAttrs}). */
export interface LayerAttrs extends AttentionAttrs {
  /** The norm's epsilon. */
  readonly eps: number;
  /** `layer` or `rms`. */
  readonly norm: "layer" | "rms";
  /** q, k and v come from one `[in, q + 2·kv]` weight (`wq`; GPT-2's `c_attn`). */
  readonly fusedQkv: boolean;
  /** The attention output projection has a bias. */
  readonly outBias: boolean;
  /** The MLP products have biases. */
  readonly mlpBias: boolean;
  /** `gelu`, `gelu_new` or `silu`. */
  readonly activation: string;
  /** SwiGLU: `act(x·wa)·(x·wb)`. */
  readonly gated: boolean;
}

/**
 * One whole block of a decoding step with OpenBLAS: norm, q/k/v products, attention with the cache
 * write, output product and residual, norm, MLP products with the activation, residual.
 */
function layer(
  gemm: Sgemm,
  v: ReadonlyArray<Float32Array | Int32Array>,
  ho: Float32Array,
  a: LayerAttrs,
): void {
  const [
    h,
    n1w,
    n1b,
    wq,
    wk,
    wv,
    bq,
    bk,
    bv,
    wo,
    bo,
    n2w,
    n2b,
    wa,
    wb,
    wd,
    ba,
    bb,
    bd,
    kCache,
    vCache,
    pos,
    first,
  ] = v as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Int32Array,
    Int32Array,
  ];
  const d = n1w.length, n = pos.length, hd = a.headDim;
  const qW = a.heads * hd, kvW = a.kvHeads * hd, layerNorm = a.norm === "layer";
  const y = buffer("y", n * d);
  residualNorm(h, null, null, n1w, layerNorm ? n1b : null, ho, y, a.eps, 0);
  let qkv: QkvSource;
  let cols: number[], strides: number[];
  if (a.fusedQkv) {
    const width = qW + 2 * kvW;
    const all = buffer("qkv", n * width);
    matMulInto(gemm, y, n, d, wq, 0, width, width, all);
    qkv = { src: [all, all, all], bias: a.bias ? [bq, bq, bq] : null };
    cols = [0, qW, qW + kvW];
    strides = [width, width, width];
  } else {
    const q = buffer("q", n * qW), k = buffer("k", n * kvW), vv = buffer("v", n * kvW);
    matMulInto(gemm, y, n, d, wq, 0, qW, qW, q);
    matMulInto(gemm, y, n, d, wk, 0, kvW, kvW, k);
    matMulInto(gemm, y, n, d, wv, 0, kvW, kvW, vv);
    qkv = { src: [q, k, vv], bias: a.bias ? [bq, bk, bv] : null };
    cols = [0, 0, 0];
    strides = [qW, kvW, kvW];
  }
  const att = buffer("att", n * qW);
  attention(
    qkv.src,
    qkv.bias ?? [],
    kCache,
    vCache,
    pos,
    first,
    att,
    { ...a, cols, strides },
    gemm,
  );
  const delta = buffer("delta", n * d);
  matMulInto(gemm, att, n, qW, wo, 0, d, d, delta);
  residualNorm(ho, delta, a.outBias ? bo : null, n2w, layerNorm ? n2b : null, ho, y, a.eps, 0);
  const m = wa.length / d;
  const act = buffer("act", n * m);
  matMulInto(gemm, y, n, d, wa, 0, m, m, act);
  let up: Float32Array | null = null;
  if (a.gated) {
    up = buffer("up", n * m);
    matMulInto(gemm, y, n, d, wb, 0, m, m, up);
  }
  activate(act, a.mlpBias ? ba : null, a.activation, up, a.mlpBias && a.gated ? bb : null);
  matMulInto(gemm, act, n, m, wd, 0, d, d, delta);
  if (a.mlpBias) {
    for (let r = 0; r < n; r++) {
      const at = r * d;
      for (let j = 0; j < d; j++) ho[at + j] = ho[at + j]! + fround(delta[at + j]! + bd[j]!);
    }
  } else for (let i = 0; i < n * d; i++) ho[i] = ho[i]! + delta[i]!;
}

/** The names of `ProbsftDecodeLayer`'s inputs, in order. */
export const layerInputNames: ReadonlyArray<string> = [
  "h",
  "n1w",
  "n1b",
  "wq",
  "wk",
  "wv",
  "bq",
  "bk",
  "bv",
  "wo",
  "bo",
  "n2w",
  "n2b",
  "wa",
  "wb",
  "wd",
  "ba",
  "bb",
  "bd",
  "kCache",
  "vCache",
  "pos",
  "first",
];

/**
 * Whether a whole block can run as one kernel (`ProbsftDecodeLayer`): OpenBLAS is there and the
 * attention may use it.
 *
 * @returns True when the layer kernel can run.
 */
export function decodeLayerKernelReady(): boolean {
  return decodeGemm() !== null && decodeKernelsReady();
}

/**
 * OpenBLAS's sgemm where the decode kernels may use it: where the backend's own products use it
 * (wasm with OpenBLAS enabled, cpu-blas; so `PROBSFT_BLAS=0` keeps plain wasm) and on the `cpu`
 * reference backend (tests), unless {@link setDecodeAttentionBlas} turned it off.
 */
function decodeGemm(): Sgemm | null {
  if (!attentionBlas || !(blasActive() || tf.getBackend() === "cpu")) return null;
  return sgemm();
}

const decodeKernels: ReadonlyArray<HeapKernel> = [
  {
    // h[n] = table[ids[n]] (+ positionsTable[pos[n]]).
    name: "ProbsftDecodeEmbed",
    inputNames: ["table", "positionsTable", "ids", "pos"],
    outputs: (inputs) => [{
      shape: [inputs[2]!.shape[0]!, inputs[0]!.shape[1]!],
      dtype: "float32",
    }],
    run: ([table, positionsTable, ids, pos], [out], attrs) => {
      const t = f32(table!), p = f32(positionsTable!), id = i32(ids!), ps = i32(pos!);
      const o = f32(out!), n = id.length, d = o.length / Math.max(n, 1);
      const rows = t.length / d, positionRows = p.length / d;
      const withPositions = attrs.positions as boolean;
      for (let r = 0; r < n; r++) {
        const a = id[r]!;
        if (!(a >= 0 && a < rows)) throw new RangeError(`Embedding id ${a} is not in [0, ${rows})`);
        const at = r * d, ta = a * d;
        if (!withPositions) {
          o.set(t.subarray(ta, ta + d), at);
          continue;
        }
        const q = ps[r]!;
        if (!(q >= 0 && q < positionRows)) {
          throw new RangeError(`Position ${q} is not in [0, ${positionRows})`);
        }
        const pa = q * d;
        for (let j = 0; j < d; j++) o[at + j] = t[ta + j]! + p[pa + j]!;
      }
    },
  },
  {
    name: "ProbsftDecodeResidualNorm",
    inputNames: ["h", "delta", "bias", "w", "b"],
    outputs: (inputs, attrs) => {
      const [n, d] = inputs[0]!.shape as [number, number];
      const lastOf = attrs.lastOf as number;
      return [
        { shape: [n, d], dtype: "float32" },
        { shape: [lastOf > 0 ? n / lastOf : n, d], dtype: "float32" },
      ];
    },
    run: ([h, delta, bias, w, b], [hOut, y], attrs) => {
      const a = attrs as unknown as ResidualNormAttrs;
      residualNorm(
        f32(h!),
        a.residual ? f32(delta!) : null,
        a.residual && a.deltaBias ? f32(bias!) : null,
        f32(w!),
        a.norm === "layer" ? f32(b!) : null,
        f32(hOut!),
        f32(y!),
        a.eps,
        a.lastOf,
      );
    },
  },
  {
    name: "ProbsftDecodeAttention",
    inputNames: ["q", "k", "v", "qb", "kb", "vb", "kCache", "vCache", "pos", "first"],
    outputs: (inputs, attrs) => [{
      shape: [inputs[8]!.shape[0]!, (attrs.heads as number) * (attrs.headDim as number)],
      dtype: "float32",
    }],
    run: ([q, k, v, qb, kb, vb, kCache, vCache, pos, first], [out], attrs) => {
      attention(
        [f32(q!), f32(k!), f32(v!)],
        (attrs.bias as boolean) ? [f32(qb!), f32(kb!), f32(vb!)] : [],
        f32(kCache!),
        f32(vCache!),
        i32(pos!),
        i32(first!),
        f32(out!),
        attrs as unknown as AttentionAttrs,
        decodeGemm(),
      );
    },
  },
  {
    // gated: act(a + ab)·(b + bb) (SwiGLU); otherwise act(a + ab). Biases when `bias`.
    name: "ProbsftDecodeActivation",
    inputNames: ["a", "b", "ab", "bb"],
    outputs: (inputs) => [{ shape: [...inputs[0]!.shape], dtype: "float32" }],
    run: ([a, b, ab, bb], [out], attrs) => {
      const o = f32(out!), withBias = attrs.bias as boolean, gated = attrs.gated as boolean;
      o.set(f32(a!));
      activate(
        o,
        withBias ? f32(ab!) : null,
        attrs.kind as string,
        gated ? f32(b!) : null,
        withBias && gated ? f32(bb!) : null,
      );
    },
  },
  {
    name: "ProbsftDecodeLayer",
    inputNames: layerInputNames,
    outputs: (inputs) => [{ shape: [...inputs[0]!.shape], dtype: "float32" }],
    run: (views, [out], attrs) => {
      const gemm = decodeGemm();
      if (gemm === null) throw new Error("ProbsftDecodeLayer needs OpenBLAS");
      layer(
        gemm,
        views as ReadonlyArray<Float32Array | Int32Array>,
        f32(out!),
        attrs as unknown as LayerAttrs,
      );
    },
  },
];

/**
 * Rotary cos and sin of each row's position, `[n, headDim/2]` each, as tfjs computes them in
 * float32.
 */
function rotaryTable(
  pos: Int32Array,
  half: number,
  headDim: number,
  theta: number,
): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(pos.length * half), sin = new Float64Array(pos.length * half);
  const freqs = new Float64Array(half);
  for (let i = 0; i < half; i++) freqs[i] = fround(1 / Math.pow(theta, (2 * i) / headDim));
  for (let r = 0; r < pos.length; r++) {
    for (let i = 0; i < half; i++) {
      const angle = fround(pos[r]! * freqs[i]!);
      cos[r * half + i] = fround(Math.cos(angle));
      sin[r * half + i] = fround(Math.sin(angle));
    }
  }
  return { cos, sin };
}

/** Adds the bias and applies the rotary embedding (row `r` of the tables) to one head vector. */
function loadHead(
  src: Float32Array,
  at: number,
  bias: Float32Array | undefined,
  biasAt: number,
  headDim: number,
  rope: { cos: Float64Array; sin: Float64Array } | null,
  r: number,
  dst: Float32Array | Float64Array,
  dstAt: number,
): void {
  if (rope === null) {
    for (let d = 0; d < headDim; d++) {
      dst[dstAt + d] = bias !== undefined ? fround(src[at + d]! + bias[biasAt + d]!) : src[at + d]!;
    }
    return;
  }
  const half = headDim / 2, t = r * half, cos = rope.cos, sin = rope.sin;
  for (let d = 0; d < half; d++) {
    const x1 = bias !== undefined ? fround(src[at + d]! + bias[biasAt + d]!) : src[at + d]!;
    const x2 = bias !== undefined
      ? fround(src[at + d + half]! + bias[biasAt + d + half]!)
      : src[at + d + half]!;
    const c = cos[t + d]!, s = sin[t + d]!;
    dst[dstAt + d] = fround(fround(x1 * c) + fround(-x2 * s));
    dst[dstAt + d + half] = fround(fround(x2 * c) + fround(x1 * s));
  }
}

/**
 * Writes the new keys and values into the cache, then attends: each query head over its row's
 * keys `first[b]` … its own slot. With `gemm`, per row and kv head two products (scores, then
 * the weighted values); otherwise JavaScript loops.
 */
function attention(
  src: ReadonlyArray<Float32Array>,
  biases: ReadonlyArray<Float32Array>,
  kCache: Float32Array,
  vCache: Float32Array,
  pos: Int32Array,
  first: Int32Array,
  out: Float32Array,
  a: AttentionAttrs,
  gemm: Sgemm | null,
): void {
  const { time, slot, heads, kvHeads, headDim } = a;
  const [qs, ks, vs] = src as [Float32Array, Float32Array, Float32Array];
  const [qb, kb, vb] = biases as [Float32Array?, Float32Array?, Float32Array?];
  const [qCol, kCol, vCol] = a.cols as [number, number, number];
  const [qStride, kStride, vStride] = a.strides as [number, number, number];
  const n = pos.length, batch = n / time;
  const slots = kCache.length / (batch * kvHeads * headDim);
  const group = heads / kvHeads, half = headDim / 2;
  const scale = 1 / Math.sqrt(headDim);
  if (slot + time > slots) {
    throw new RangeError(`Cache of ${slots} positions cannot take ${time} more after ${slot}`);
  }
  const rope = a.theta > 0 ? rotaryTable(pos, half, headDim, a.theta) : null;
  // 1. Keys (biased, rotated) and values of the new positions into their cache slots.
  for (let r = 0; r < n; r++) {
    const b = Math.floor(r / time), s = slot + (r % time);
    for (let j = 0; j < kvHeads; j++) {
      const dst = ((b * kvHeads + j) * slots + s) * headDim, c = j * headDim;
      loadHead(ks, r * kStride + kCol + c, kb, kCol + c, headDim, rope, r, kCache, dst);
      loadHead(vs, r * vStride + vCol + c, vb, vCol + c, headDim, null, r, vCache, dst);
    }
  }
  const qAt = (r: number, h: number) => r * qStride + qCol + h * headDim;
  if (gemm !== null) {
    // 2. Per row and kv head: scores = Q·Kᵀ (the group's heads × new positions), causal softmax,
    // context = P·V.
    const m = time * group;
    const qg = buffer("attQ", m * headDim), og = buffer("attO", m * headDim);
    for (let b = 0; b < batch; b++) {
      const from = first[b]!, used = slot + time - from;
      const sc = buffer("attS", m * used);
      for (let j = 0; j < kvHeads; j++) {
        for (let i = 0; i < time; i++) {
          const r = b * time + i;
          for (let g = 0; g < group; g++) {
            const h = j * group + g;
            loadHead(
              qs,
              qAt(r, h),
              qb,
              qCol + h * headDim,
              headDim,
              rope,
              r,
              qg,
              (i * group + g) * headDim,
            );
          }
        }
        const base = ((b * kvHeads + j) * slots + from) * headDim;
        const kv = kCache.subarray(base, base + used * headDim);
        const vv = vCache.subarray(base, base + used * headDim);
        gemm(noTrans, trans, m, used, headDim, scale, qg, headDim, kv, headDim, 0, sc, used);
        for (let i = 0; i < time; i++) {
          const visible = slot + i - from + 1;
          for (let g = 0; g < group; g++) {
            const at = (i * group + g) * used;
            let max = -Infinity;
            for (let key = 0; key < visible; key++) if (sc[at + key]! > max) max = sc[at + key]!;
            let sum = 0;
            for (let key = 0; key < visible; key++) {
              const e = Math.exp(sc[at + key]! - max);
              sc[at + key] = e;
              sum += e;
            }
            const inv = 1 / sum;
            for (let key = 0; key < visible; key++) sc[at + key] = sc[at + key]! * inv;
            for (let key = visible; key < used; key++) sc[at + key] = 0;
          }
        }
        gemm(noTrans, noTrans, m, headDim, used, 1, sc, used, vv, headDim, 0, og, headDim);
        for (let i = 0; i < time; i++) {
          const o = (b * time + i) * heads * headDim;
          for (let g = 0; g < group; g++) {
            const h = j * group + g;
            out.set(
              og.subarray((i * group + g) * headDim, (i * group + g + 1) * headDim),
              o + h * headDim,
            );
          }
        }
      }
    }
    return;
  }
  // 2. Each query head over its row's keys first[b] … its own slot, in JavaScript.
  const qv = new Float64Array(headDim), acc = new Float64Array(headDim);
  const scores = scratchOf(slots);
  for (let r = 0; r < n; r++) {
    const b = Math.floor(r / time), s = slot + (r % time), from = first[b]!;
    for (let h = 0; h < heads; h++) {
      loadHead(qs, qAt(r, h), qb, qCol + h * headDim, headDim, rope, r, qv, 0);
      const base = (b * kvHeads + Math.floor(h / group)) * slots * headDim;
      let max = -Infinity;
      for (let key = from; key <= s; key++) {
        const at = base + key * headDim;
        let dot = 0, dot1 = 0, dot2 = 0, dot3 = 0, d = 0;
        for (; d + 3 < headDim; d += 4) {
          dot += qv[d]! * kCache[at + d]!;
          dot1 += qv[d + 1]! * kCache[at + d + 1]!;
          dot2 += qv[d + 2]! * kCache[at + d + 2]!;
          dot3 += qv[d + 3]! * kCache[at + d + 3]!;
        }
        for (; d < headDim; d++) dot += qv[d]! * kCache[at + d]!;
        const score = (dot + dot1 + dot2 + dot3) * scale;
        scores[key] = score;
        if (score > max) max = score;
      }
      let sum = 0;
      for (let key = from; key <= s; key++) {
        const e = Math.exp(scores[key]! - max);
        scores[key] = e;
        sum += e;
      }
      acc.fill(0);
      for (let key = from; key <= s; key++) {
        const p = scores[key]! / sum, at = base + key * headDim;
        for (let d = 0; d < headDim; d++) acc[d]! += p * vCache[at + d]!;
      }
      const o = r * heads * headDim + h * headDim;
      for (let d = 0; d < headDim; d++) out[o + d] = acc[d]!;
    }
  }
}
