/**
 * Fused JavaScript kernels for the wasm backend (in place on the wasm heap) and for `cpu-blas`
 * (on its typed arrays), registered with tfjs under names prefixed `Probsft`: GELU in its tanh form
 * and its gradient in one pass each, LayerNorm forward (returning the row mean and inverse
 * standard deviation) and backward in one pass each, an embedding gather and its scatter-add
 * gradient (no one-hot), a column sum (a bias gradient), and an `Equal` for equal shapes or a
 * broadcast last axis (the `logSumExp` max gradient); exact GELU and its gradient, and GPT-2's q/k/v
 * split and its gradient. On wasm, while the SIMD module's row kernels serve it
 * (`simdRowKernels` in `wasm_simd.ts`), both GELUs, LayerNorm and the column sum run there
 * (f32x4, float32 sums) instead of the JavaScript loops. They are registered on first use by
 * {@link fastPathsActive}; the model ops of `backbones/ops.ts` call them through
 * {@link runKernel} and give them gradients. Tests check them against the plain tfjs compositions
 * on the `cpu` reference backend to 1e-4.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  cpuValues,
  f32,
  type HeapKernel,
  isCpuBackend,
  registerHeapKernel,
  registerKernelFunc,
  sameOutput,
} from "./js_kernel.ts";
import { cpuBlasName } from "./cpu_blas.ts";
import { nativeRowKernels } from "./native_rows.ts";
import { simdRowKernels } from "./wasm_simd.ts";
import { erf, sqrt2OverPi, tanh } from "./_rational.ts";
import { targetLogProbKernels } from "./target_log_prob_kernels.ts";
import { causalSoftmaxKernels } from "./causal_softmax_kernels.ts";

/** The backends the fused kernels serve. */
export const fusedBackends: ReadonlyArray<string> = ["wasm", cpuBlasName];

let fastPathsEnabled = true;
const registeredOn = new Set<string>();
const originalEqual = new Map<string, tf.KernelConfig>();
const equalFast = new Map<string, tf.KernelFunc>();
const originalIdentity = new Map<string, tf.KernelConfig>();

/**
 * Turns the fused fast paths on or off (on by default), for comparisons and tests.
 *
 * @param on Whether to use them.
 */
export function setFastPaths(on: boolean): void {
  fastPathsEnabled = on;
  if (!on) {
    for (const [backend, kernel] of originalEqual) {
      registerKernelFunc("Equal", backend, kernel.kernelFunc);
    }
    originalEqual.clear();
    for (const [backend, kernel] of originalIdentity) {
      registerKernelFunc("Identity", backend, kernel.kernelFunc);
    }
    originalIdentity.clear();
    registeredOn.clear();
  }
}

/**
 * `Equal` for equal shapes and a broadcast last axis of size 1, float32 or int32, in one pass
 * (wasm's takes about 50 ms for `[16, 64, 512]` against `[16, 64, 1]`, the max gradient of
 * `logSumExp`; tfjs's cpu kernel computes an index vector per element); other cases go to the
 * backend's own kernel.
 */
function equalKernel(backendName: string): tf.KernelFunc {
  return ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const sameShape = a.shape.length === b.shape.length &&
      a.shape.every((d, i) => d === b.shape[i]);
    const lastBroadcast = a.shape.length === b.shape.length &&
      b.shape[b.shape.length - 1] === 1 && a.shape.slice(0, -1).every((d, i) => d === b.shape[i]);
    const fn = (
        a.dtype !== b.dtype || a.dtype === "string" || a.dtype === "complex64" ||
        !(sameShape || lastBroadcast)
      )
      ? originalEqual.get(backendName)!.kernelFunc
      : equalFast.get(backendName)!;
    return (fn as unknown as (x: typeof args) => tf.TensorInfo)(args);
  }) as unknown as tf.KernelFunc;
}

/**
 * `Identity` (`tf.clone`, and every tensor a `tf.customGrad` saves for its backward pass) on
 * wasm as the cpu backend has it: the output shares the input's data (its reference count goes
 * up, as wasm's own `Reshape` does) instead of copying it on the heap: 132 copies a reference
 * step. Tensors are immutable: nothing on wasm writes into an input (AdamW there writes new
 * tensors; only the decoding cache is written in place, and it is never cloned), so sharing
 * cannot be observed. Strings go to the backend's own kernel.
 */
function sharedIdentity(original: tf.KernelConfig): tf.KernelFunc {
  return ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown }) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === "string") {
      return (original.kernelFunc as unknown as (a: typeof args) => tf.TensorInfo)(args);
    }
    (args.backend as { incRef(dataId: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  }) as unknown as tf.KernelFunc;
}

/**
 * Whether the fused fast paths serve the current backend (wasm or cpu-blas, unless turned off).
 * Registers the kernels for that backend on first use.
 *
 * @returns True when the model ops should call the fused kernels.
 */
export function fastPathsActive(): boolean {
  const backend = tf.getBackend();
  if (!fastPathsEnabled || !fusedBackends.includes(backend)) return false;
  if (!registeredOn.has(backend)) {
    for (
      const kernel of [
        ...fastKernels,
        ...targetLogProbKernels,
        ...causalSoftmaxKernels,
        sumSquaresKernel,
        adamWKernel,
      ]
    ) {
      registerHeapKernel(kernel, backend);
    }
    if (!originalEqual.has(backend)) originalEqual.set(backend, tf.getKernel("Equal", backend)!);
    registerHeapKernel(equalHeapKernel, backend);
    equalFast.set(backend, tf.getKernel("ProbsftEqual", backend)!.kernelFunc);
    registerKernelFunc("Equal", backend, equalKernel(backend));
    if (backend === "wasm" && !originalIdentity.has(backend)) {
      const identity = tf.getKernel("Identity", backend)!;
      originalIdentity.set(backend, identity);
      registerKernelFunc("Identity", backend, sharedIdentity(identity));
    }
    registeredOn.add(backend);
  }
  return true;
}

/**
 * Runs a kernel by name on the active backend.
 *
 * @param name The kernel (e.g. `ProbsftLayerNorm`).
 * @param inputs Inputs by the kernel's input names.
 * @param attrs Attributes.
 * @returns The outputs, always as a list.
 */
export function runKernel(
  name: string,
  inputs: tf.NamedTensorMap,
  attrs: tf.NamedAttrMap = {},
): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs, attrs) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out];
}

const equalHeapKernel: HeapKernel = {
  name: "ProbsftEqual",
  inputNames: ["a", "b"],
  outputs: (inputs) => [{ shape: [...inputs[0]!.shape], dtype: "bool" }],
  run: ([a, b], [out]) => {
    const x = a!, y = b!, o = out!;
    if (x.length === y.length) {
      for (let i = 0; i < x.length; i++) o[i] = x[i] === y[i] ? 1 : 0;
      return;
    }
    const inner = x.length / Math.max(y.length, 1);
    for (let r = 0; r < y.length; r++) {
      const v = y[r]!, at = r * inner;
      for (let j = 0; j < inner; j++) o[at + j] = x[at + j] === v ? 1 : 0;
    }
  },
};

/**
 * Whether the optimizer should use the fused AdamW kernels (wasm and cpu-blas, with the fast
 * paths on): one pass per variable instead of about 16 tfjs ops, the same update to float
 * rounding (its arithmetic is in float64).
 *
 * @returns True on wasm or cpu-blas with the fast paths on.
 */
export function fusedOptimizerActive(): boolean {
  return fastPathsActive();
}

/** Σ x² as one float32 scalar (accumulated in float64). */
const sumSquaresKernel: HeapKernel = {
  name: "ProbsftSumSquares",
  inputNames: ["x"],
  outputs: () => [{ shape: [], dtype: "float32" }],
  run: ([x], [out]) => {
    const xs = f32(x!);
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const n4 = xs.length - (xs.length % 4);
    for (let i = 0; i < n4; i += 4) {
      const a = xs[i]!, b = xs[i + 1]!, c = xs[i + 2]!, d = xs[i + 3]!;
      s0 += a * a;
      s1 += b * b;
      s2 += c * c;
      s3 += d * d;
    }
    for (let i = n4; i < xs.length; i++) s0 += xs[i]! * xs[i]!;
    f32(out!)[0] = s0 + s1 + s2 + s3;
  },
};

/** Settings of one fused AdamW update (see {@link adamWInPlace}). */
export interface AdamWAttrs {
  /** Learning rate. */
  readonly lr: number;
  /** First-moment decay. */
  readonly beta1: number;
  /** Second-moment decay. */
  readonly beta2: number;
  /** Denominator epsilon. */
  readonly epsilon: number;
  /** Decoupled weight decay. */
  readonly weightDecay: number;
  /** Gradient scale (clipping). */
  readonly scale: number;
  /** `1 − β1^t`. */
  readonly correction1: number;
  /** `1 − β2^t`. */
  readonly correction2: number;
}

function adamWLoop(
  ws: Float32Array,
  gs: Float32Array,
  ms: Float32Array,
  vs: Float32Array,
  wo: Float32Array,
  mo: Float32Array,
  vo: Float32Array,
  a: AdamWAttrs,
): void {
  const b1 = a.beta1, b2 = a.beta2, eps = a.epsilon, scale = a.scale;
  const decay = 1 - a.lr * a.weightDecay;
  const ob1 = 1 - b1, ob2 = 1 - b2, step = a.lr / a.correction1, inv2 = 1 / a.correction2;
  for (let i = 0; i < ws.length; i++) {
    const gi = gs[i]! * scale;
    const mi = b1 * ms[i]! + ob1 * gi;
    const vi = b2 * vs[i]! + ob2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    wo[i] = ws[i]! * decay - step * mi / (Math.sqrt(vi * inv2) + eps);
  }
}

/**
 * One decoupled-weight-decay Adam update in one pass: with `g = scale·grad`,
 * `m' = β1·m + (1 − β1)·g`, `v' = β2·v + (1 − β2)·g²`,
 * `w' = w·(1 − lr·wd) − lr·(m'/c1) / (√(v'/c2) + eps)`; outputs `w'`, `m'`, `v'`.
 */
const adamWKernel: HeapKernel = {
  name: "ProbsftAdamW",
  inputNames: ["w", "g", "m", "v"],
  outputs: (inputs) => [0, 1, 2].map(() => ({ shape: [...inputs[0]!.shape], dtype: "float32" })),
  run: ([w, g, m, v], [wOut, mOut, vOut], attrs) =>
    adamWLoop(
      f32(w!),
      f32(g!),
      f32(m!),
      f32(v!),
      f32(wOut!),
      f32(mOut!),
      f32(vOut!),
      attrs as unknown as AdamWAttrs,
    ),
};

/**
 * The AdamW update of `ProbsftAdamW` written over `w`, `m` and `v` themselves, on cpu-blas when
 * none of the three shares its buffer with another tensor (a clone, a checkpoint snapshot): no
 * new arrays for a step (three weight-sized arrays less at the peak, and no page faults). Never
 * on wasm: its XNNPACK matrix products cache packed weights by tensor, and a weight changed in
 * place would be read stale from that cache (measured: wrong second steps); there the optimizer
 * runs the `ProbsftAdamW` kernel into new tensors.
 *
 * @param w The variable (updated in place).
 * @param g Its gradient.
 * @param m First moment (updated in place).
 * @param v Second moment (updated in place).
 * @param attrs The settings.
 * @returns True when done; false when it does not apply (the caller runs `ProbsftAdamW`).
 */
export function adamWInPlace(
  w: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamWAttrs,
): boolean {
  if (tf.getBackend() !== cpuBlasName) return false;
  const backend = tf.backend();
  if (!isCpuBackend(backend)) return false;
  const own = (t: tf.Tensor) => {
    const d = backend.data.get(t.dataId) as { values?: unknown; refCount?: number } | undefined;
    return d !== undefined && d.values instanceof Float32Array ? d : undefined;
  };
  const dw = own(w), dg = own(g), dm = own(m), dv = own(v);
  if (!dw || !dg || !dm || !dv || dw.refCount !== 1 || dm.refCount !== 1 || dv.refCount !== 1) {
    return false;
  }
  const wv = dw.values as Float32Array, mv = dm.values as Float32Array;
  const vv = dv.values as Float32Array;
  adamWLoop(wv, dg.values as Float32Array, mv, vv, wv, mv, vv, attrs);
  return true;
}

/**
 * `sum + x` for gradient accumulation, written over `sum` on cpu-blas when `sum` owns its whole
 * buffer alone (no other tensor shares its data, it is no view into another array) and both are
 * float32 of one shape: no new weight-sized array (and no page faults) per micro-batch or chunk.
 * Elsewhere (wasm, where XNNPACK caches by tensor, and `cpu`) a new tensor. Either way `sum` and
 * `x` are consumed: the caller keeps only the result.
 *
 * @param sum The running sum (disposed unless returned).
 * @param x The addend (disposed).
 * @returns The sum: `sum` itself, updated, or a new tensor.
 */
export function accumulate(sum: tf.Tensor, x: tf.Tensor): tf.Tensor {
  const backend = tf.backend();
  if (
    tf.getBackend() === cpuBlasName && isCpuBackend(backend) && sum.dataId !== x.dataId &&
    sum.dtype === "float32" && x.dtype === "float32" && tf.util.arraysEqual(sum.shape, x.shape)
  ) {
    const ds = backend.data.get(sum.dataId) as { values?: unknown; refCount?: number } | undefined;
    const a = ds?.values, b = cpuValues(backend, x);
    if (
      a instanceof Float32Array && b instanceof Float32Array && ds!.refCount === 1 &&
      a.byteOffset === 0 && a.byteLength === a.buffer.byteLength
    ) {
      for (let i = 0; i < a.length; i++) a[i]! += b[i]!;
      x.dispose();
      return sum;
    }
  }
  const out = tf.add(sum, x);
  tf.dispose([sum, x]);
  return out;
}

/** The fused kernels (names prefixed `Probsft`), registered on first use on a backend. */
const fastKernels: ReadonlyArray<HeapKernel> = [
  {
    // The last axis cut into three equal parts (GPT-2's fused q, k, v projection): one row copy
    // per part (wasm's SplitV took about 3 ms for [32, 64, 192]).
    name: "ProbsftSplit3",
    inputNames: ["x"],
    outputs: (inputs) => {
      const shape = [...inputs[0]!.shape];
      shape[shape.length - 1] = shape[shape.length - 1]! / 3;
      return [0, 1, 2].map(() => ({ shape: [...shape], dtype: "float32" as const }));
    },
    run: ([x], outs, attrs) => {
      const xs = f32(x!), [a, b, c] = outs.map(f32) as [Float32Array, Float32Array, Float32Array];
      const w = attrs.width as number, rows = a.length / Math.max(w, 1);
      for (let r = 0; r < rows; r++) {
        const at = 3 * r * w, to = r * w;
        a.set(xs.subarray(at, at + w), to);
        b.set(xs.subarray(at + w, at + 2 * w), to);
        c.set(xs.subarray(at + 2 * w, at + 3 * w), to);
      }
    },
  },
  {
    // Exact GELU, 0.5·x·(1 + erf(x/√2)): the SIMD module's f32x4 kernel on wasm (the model uses
    // this kernel only then: the tfjs composite beats a scalar loop), a JavaScript loop elsewhere.
    name: "ProbsftGeluErf",
    inputNames: ["x"],
    outputs: sameOutput,
    run: ([x], [y]) => {
      // Non-null only on the active wasm backend, where the views are windows on its heap.
      const rows = simdRowKernels();
      if (rows !== null) {
        rows.geluErf(x!.byteOffset, y!.byteOffset, x!.length);
        return;
      }
      const xs = f32(x!), ys = f32(y!);
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i]!;
        ys[i] = 0.5 * v * (1 + erf(v * Math.SQRT1_2));
      }
    },
  },
  {
    // dx = dy·(0.5·(1 + erf(x/√2)) + x·φ(x)), φ the standard normal density.
    name: "ProbsftGeluErfGrad",
    inputNames: ["dy", "x"],
    outputs: sameOutput,
    run: ([dy, x], [dx]) => {
      const rows = simdRowKernels();
      if (rows !== null) {
        rows.geluErfGrad(dy!.byteOffset, x!.byteOffset, dx!.byteOffset, x!.length);
        return;
      }
      const d = f32(dy!), xs = f32(x!), out = f32(dx!);
      const c = 1 / Math.sqrt(2 * Math.PI);
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i]!;
        out[i] = d[i]! *
          (0.5 * (1 + erf(v * Math.SQRT1_2)) + v * c * Math.exp(-0.5 * v * v));
      }
    },
  },
  {
    name: "ProbsftGeluTanh",
    inputNames: ["x"],
    outputs: sameOutput,
    run: ([x], [y]) => {
      const xs = f32(x!), ys = f32(y!);
      const simd = simdRowKernels();
      if (simd !== null) return simd.geluTanh(xs.byteOffset, ys.byteOffset, xs.length);
      const native = nativeRowKernels();
      if (native !== null) return native.geluTanh(xs, ys);
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i]!;
        ys[i] = 0.5 * v * (1 + tanh(sqrt2OverPi * (v + 0.044715 * v * v * v)));
      }
    },
  },
  {
    name: "ProbsftGeluTanhGrad",
    inputNames: ["dy", "x"],
    outputs: sameOutput,
    run: ([dy, x], [dx]) => {
      const d = f32(dy!), xs = f32(x!), out = f32(dx!);
      const simd = simdRowKernels();
      if (simd !== null) {
        return simd.geluTanhGrad(d.byteOffset, xs.byteOffset, out.byteOffset, xs.length);
      }
      const native = nativeRowKernels();
      if (native !== null) return native.geluTanhGrad(d, xs, out);
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i]!;
        const t = tanh(sqrt2OverPi * (v + 0.044715 * v * v * v));
        const du = sqrt2OverPi * (1 + 3 * 0.044715 * v * v);
        out[i] = d[i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
      }
    },
  },
  {
    // y = (x − mean)·rstd·w + b over the last axis; also returns mean and rstd per row.
    name: "ProbsftLayerNorm",
    inputNames: ["x", "w", "b"],
    outputs: (inputs) => {
      const shape = [...inputs[0]!.shape];
      const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      return [
        { shape, dtype: "float32" },
        { shape: [rows], dtype: "float32" },
        { shape: [rows], dtype: "float32" },
      ];
    },
    run: ([x, w, b], [y, mean, rstd], attrs) => {
      const xs = f32(x!), ws = f32(w!), bs = f32(b!), ys = f32(y!);
      const ms = f32(mean!), rs = f32(rstd!);
      const d = ws.length, eps = attrs.eps as number;
      const simd = simdRowKernels();
      if (simd !== null && d > 0) {
        simd.layerNorm(
          xs.byteOffset,
          ws.byteOffset,
          bs.byteOffset,
          ys.byteOffset,
          ms.byteOffset,
          rs.byteOffset,
          ms.length,
          d,
          eps,
        );
        return;
      }
      for (let r = 0; r < ms.length; r++) {
        const o = r * d;
        let sum = 0;
        for (let j = 0; j < d; j++) sum += xs[o + j]!;
        const mu = sum / d;
        let sq = 0;
        for (let j = 0; j < d; j++) {
          const c = xs[o + j]! - mu;
          sq += c * c;
        }
        const inv = 1 / Math.sqrt(sq / d + eps);
        ms[r] = mu;
        rs[r] = inv;
        for (let j = 0; j < d; j++) ys[o + j] = (xs[o + j]! - mu) * inv * ws[j]! + bs[j]!;
      }
    },
  },
  {
    // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w; dw = Σ dy·x̂; db = Σ dy.
    name: "ProbsftLayerNormGrad",
    inputNames: ["dy", "x", "w", "mean", "rstd"],
    outputs: (inputs) => [
      { shape: [...inputs[1]!.shape], dtype: "float32" },
      { shape: [...inputs[2]!.shape], dtype: "float32" },
      { shape: [...inputs[2]!.shape], dtype: "float32" },
    ],
    run: ([dy, x, w, mean, rstd], [dx, dw, db]) => {
      const dys = f32(dy!), xs = f32(x!), ws = f32(w!), ms = f32(mean!), rs = f32(rstd!);
      const dxs = f32(dx!), dws = f32(dw!), dbs = f32(db!);
      const d = ws.length;
      const simd = simdRowKernels();
      if (simd !== null && d > 0) {
        const at = (v: Float32Array) => v.byteOffset;
        simd.layerNormGrad(
          at(dys),
          at(xs),
          at(ws),
          at(ms),
          at(rs),
          at(dxs),
          at(dws),
          at(dbs),
          ms.length,
          d,
        );
        return;
      }
      const gw = new Float64Array(d), gb = new Float64Array(d);
      for (let r = 0; r < ms.length; r++) {
        const o = r * d, mu = ms[r]!, inv = rs[r]!;
        let sumG = 0, sumGX = 0;
        for (let j = 0; j < d; j++) {
          const xhat = (xs[o + j]! - mu) * inv;
          const g = dys[o + j]!;
          gw[j]! += g * xhat;
          gb[j]! += g;
          const gg = g * ws[j]!;
          sumG += gg;
          sumGX += gg * xhat;
        }
        const meanG = sumG / d, meanGX = sumGX / d;
        for (let j = 0; j < d; j++) {
          const xhat = (xs[o + j]! - mu) * inv;
          dxs[o + j] = inv * (dys[o + j]! * ws[j]! - meanG - xhat * meanGX);
        }
      }
      for (let j = 0; j < d; j++) {
        dws[j] = gw[j]!;
        dbs[j] = gb[j]!;
      }
    },
  },
  {
    // The gradient of ProbsftSplit3: three [..., w] parts side by side on the last axis.
    name: "ProbsftConcat3",
    inputNames: ["a", "b", "c"],
    outputs: (inputs) => {
      const shape = [...inputs[0]!.shape];
      shape[shape.length - 1] = 3 * shape[shape.length - 1]!;
      return [{ shape, dtype: "float32" }];
    },
    run: (ins, [out], attrs) => {
      const [a, b, c] = ins.map(f32) as [Float32Array, Float32Array, Float32Array];
      const o = f32(out!), w = attrs.width as number, rows = a.length / Math.max(w, 1);
      for (let r = 0; r < rows; r++) {
        const from = r * w, at = 3 * from;
        o.set(a.subarray(from, from + w), at);
        o.set(b.subarray(from, from + w), at + w);
        o.set(c.subarray(from, from + w), at + 2 * w);
      }
    },
  },
  {
    name: "ProbsftGatherRows",
    inputNames: ["table", "ids"],
    outputs: (inputs) => [{
      shape: [inputs[1]!.shape.reduce((a, b) => a * b, 1), inputs[0]!.shape[1]!],
      dtype: "float32",
    }],
    run: ([table, ids], [out]) => {
      const t = f32(table!), o = f32(out!), n = ids!.length, d = o.length / Math.max(n, 1);
      const rows = t.length / d;
      for (let i = 0; i < n; i++) {
        const id = ids![i]!;
        if (!(id >= 0 && id < rows)) {
          throw new RangeError(`Embedding id ${id} is not in [0, ${rows})`);
        }
        o.set(t.subarray(id * d, id * d + d), i * d);
      }
    },
  },
  {
    name: "ProbsftScatterAddRows",
    inputNames: ["dy", "ids"],
    outputs: (inputs, attrs) => [{
      shape: [attrs.rows as number, inputs[0]!.shape[1]!],
      dtype: "float32",
    }],
    run: ([dy, ids], [out]) => {
      const g = f32(dy!), o = f32(out!), n = ids!.length, d = g.length / Math.max(n, 1);
      o.fill(0);
      for (let i = 0; i < n; i++) {
        const at = ids![i]! * d, from = i * d;
        for (let j = 0; j < d; j++) o[at + j]! += g[from + j]!;
      }
    },
  },
  {
    name: "ProbsftColumnSum",
    inputNames: ["x"],
    outputs: (inputs) => [{ shape: [inputs[0]!.shape[1]!], dtype: "float32" }],
    run: ([x], [out]) => {
      const xs = f32(x!), o = f32(out!), d = o.length, rows = xs.length / Math.max(d, 1);
      const simd = simdRowKernels();
      if (simd !== null && d > 0) {
        simd.columnSum(xs.byteOffset, o.byteOffset, rows, d);
        return;
      }
      const acc = new Float64Array(d);
      for (let r = 0; r < rows; r++) {
        const at = r * d;
        for (let j = 0; j < d; j++) acc[j]! += xs[at + j]!;
      }
      for (let j = 0; j < d; j++) o[j] = acc[j]!;
    },
  },
];
