/**
 * Faster JavaScript kernels for the tfjs cpu backend's typed arrays, for the ops a transformer's
 * training step spends its time in: element-wise `Add`, `Sub`, `Multiply`, `RealDiv` and
 * `SquaredDifference` with broadcasting (tfjs's cpu kernel computes an index vector per element
 * as soon as one side broadcasts), `Transpose` (the same per-element index arithmetic there),
 * `SplitV` (block copies), and `Softmax` over the last axis in one pass per row. Each handles
 * float32 (`Transpose` and `SplitV` int32 too) and falls back to the kernel it replaces for
 * anything else. Registered for `cpu-blas` by `cpu_blas.ts`; the `cpu`
 * reference backend keeps tfjs's own kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { cpuValues, isCpuBackend, type KernelArgs, registerKernelFunc } from "./js_kernel.ts";

const ADD = 0, SUB = 1, MUL = 2, DIV = 3, SQDIFF = 4;

/** `out[o + j] = a[ai + j·as] ∘ b[bi + j·bs]` for `j < n`, with `as`, `bs` ∈ {0, 1}. */
function inner(
  op: number,
  out: Float32Array,
  o: number,
  a: Float32Array,
  ai: number,
  as: number,
  b: Float32Array,
  bi: number,
  bs: number,
  n: number,
): void {
  if (as === 1 && bs === 1) {
    switch (op) {
      case ADD:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! + b[bi + j]!;
        return;
      case SUB:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! - b[bi + j]!;
        return;
      case MUL:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! * b[bi + j]!;
        return;
      case DIV:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! / b[bi + j]!;
        return;
      default:
        for (let j = 0; j < n; j++) {
          const d = a[ai + j]! - b[bi + j]!;
          out[o + j] = d * d;
        }
        return;
    }
  }
  if (as === 1) {
    const y = b[bi]!;
    switch (op) {
      case ADD:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! + y;
        return;
      case SUB:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! - y;
        return;
      case MUL:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! * y;
        return;
      case DIV:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! / y;
        return;
      default:
        for (let j = 0; j < n; j++) {
          const d = a[ai + j]! - y;
          out[o + j] = d * d;
        }
        return;
    }
  }
  if (bs === 1) {
    const x = a[ai]!;
    switch (op) {
      case ADD:
        for (let j = 0; j < n; j++) out[o + j] = x + b[bi + j]!;
        return;
      case SUB:
        for (let j = 0; j < n; j++) out[o + j] = x - b[bi + j]!;
        return;
      case MUL:
        for (let j = 0; j < n; j++) out[o + j] = x * b[bi + j]!;
        return;
      case DIV:
        for (let j = 0; j < n; j++) out[o + j] = x / b[bi + j]!;
        return;
      default:
        for (let j = 0; j < n; j++) {
          const d = x - b[bi + j]!;
          out[o + j] = d * d;
        }
        return;
    }
  }
  const x = a[ai]!, y = b[bi]!;
  const v = op === ADD
    ? x + y
    : op === SUB
    ? x - y
    : op === MUL
    ? x * y
    : op === DIV
    ? x / y
    : (x - y) * (x - y);
  out.fill(v, o, o + n);
}

/**
 * The output dimensions of a broadcast with each side's element strides (0 along broadcast axes),
 * size-1 axes dropped and adjacent axes merged where both sides stay contiguous.
 */
function collapse(
  outShape: ReadonlyArray<number>,
  aShape: ReadonlyArray<number>,
  bShape: ReadonlyArray<number>,
): { dims: number[]; aStr: number[]; bStr: number[] } {
  const rank = outShape.length;
  const strides = (shape: ReadonlyArray<number>): number[] => {
    const s = new Array<number>(rank).fill(0);
    let acc = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      const o = rank - shape.length + i;
      s[o] = shape[i] === 1 ? 0 : acc;
      acc *= shape[i]!;
    }
    return s;
  };
  const as = strides(aShape), bs = strides(bShape);
  const dims: number[] = [], aStr: number[] = [], bStr: number[] = [];
  for (let i = 0; i < rank; i++) {
    const d = outShape[i]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (
      last >= 0 && aStr[last] === as[i]! * d && bStr[last] === bs[i]! * d
    ) {
      dims[last]! *= d;
      aStr[last] = as[i]!;
      bStr[last] = bs[i]!;
    } else {
      dims.push(d);
      aStr.push(as[i]!);
      bStr.push(bs[i]!);
    }
  }
  if (dims.length === 0) return { dims: [1], aStr: [1], bStr: [1] };
  return { dims, aStr, bStr };
}

/**
 * An element-wise float32 operation with numpy broadcasting.
 *
 * @param op The operation code.
 * @param a Left values.
 * @param aShape Left shape.
 * @param b Right values.
 * @param bShape Right shape.
 * @returns The output values and shape.
 */
function broadcastBinary(
  op: number,
  a: Float32Array,
  aShape: ReadonlyArray<number>,
  b: Float32Array,
  bShape: ReadonlyArray<number>,
): { values: Float32Array; shape: number[] } {
  const shape = tf.broadcast_util.assertAndGetBroadcastShape([...aShape], [...bShape]);
  let size = 1;
  for (const d of shape) size *= d;
  const out = new Float32Array(size);
  if (size === 0) return { values: out, shape };
  const { dims, aStr, bStr } = collapse(shape, aShape, bShape);
  const r = dims.length - 1;
  const n = dims[r]!;
  const as = aStr[r]!, bs = bStr[r]!;
  if (r === 0) {
    inner(op, out, 0, a, 0, as, b, 0, bs, n);
    return { values: out, shape };
  }
  const idx = new Array<number>(r).fill(0);
  let ai = 0, bi = 0;
  for (let o = 0; o < size; o += n) {
    inner(op, out, o, a, ai, as, b, bi, bs, n);
    // Odometer over the outer axes.
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      ai += aStr[d]!;
      bi += bStr[d]!;
      if (idx[d]! < dims[d]!) break;
      ai -= aStr[d]! * dims[d]!;
      bi -= bStr[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  return { values: out, shape };
}

type Kernel = (args: KernelArgs) => tf.TensorInfo;

function binaryKernel(op: number, fallback: Kernel): Kernel {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const backend = args.backend;
    if (a.dtype !== "float32" || b.dtype !== "float32" || !isCpuBackend(backend)) {
      return fallback(args);
    }
    const av = cpuValues(backend, a), bv = cpuValues(backend, b);
    if (!(av instanceof Float32Array) || !(bv instanceof Float32Array)) return fallback(args);
    const { values, shape } = broadcastBinary(op, av, a.shape, bv, b.shape);
    return backend.makeTensorInfo(shape, "float32", values);
  };
}

/**
 * Permutes the axes of `x` (float32 or int32 values).
 *
 * @param x The values.
 * @param shape Their shape.
 * @param perm The permutation (output axis i is input axis `perm[i]`).
 * @returns The permuted values.
 */
export function transposeValues<T extends Float32Array | Int32Array>(
  x: T,
  shape: ReadonlyArray<number>,
  perm: ReadonlyArray<number>,
): T {
  const out = new (x.constructor as { new (n: number): T })(x.length);
  if (x.length === 0) return out;
  // Input strides; then drop size-1 axes and merge input axes that stay adjacent in the output.
  const inStr = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    inStr[i] = acc;
    acc *= shape[i]!;
  }
  const dims: number[] = [], str: number[] = [];
  let prev = -2;
  for (const p of perm) {
    const d = shape[p]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && p === prev + 1 && str[last] === inStr[p]! * d) {
      dims[last]! *= d;
      str[last] = inStr[p]!;
    } else {
      dims.push(d);
      str.push(inStr[p]!);
    }
    prev = p;
  }
  const r = dims.length - 1;
  if (r <= 0) {
    out.set(x);
    return out;
  }
  const n = dims[r]!, s = str[r]!;
  if (s === 1) {
    // Contiguous rows: copy row by row.
    const idx = new Array<number>(r).fill(0);
    let xi = 0;
    for (let o = 0; o < x.length; o += n) {
      out.set(x.subarray(xi, xi + n), o);
      for (let d = r - 1; d >= 0; d--) {
        idx[d]!++;
        xi += str[d]!;
        if (idx[d]! < dims[d]!) break;
        xi -= str[d]! * dims[d]!;
        idx[d] = 0;
      }
    }
    return out;
  }
  // The last output axis is strided in the input. Tile it against the output axis whose input
  // stride is 1 when that is the one before it (a batched 2-D transpose), for the cache.
  if (r >= 1 && str[r - 1] === 1) {
    const rows = dims[r - 1]!; // output rows = input columns
    const cols = n; // output columns = input rows (stride s)
    const batch = x.length / (rows * cols);
    const outer = dims.slice(0, r - 1), outerStr = str.slice(0, r - 1);
    const idx = new Array<number>(outer.length).fill(0);
    let xb = 0;
    const tile = 32;
    for (let bIndex = 0; bIndex < batch; bIndex++) {
      const ob = bIndex * rows * cols;
      for (let i0 = 0; i0 < rows; i0 += tile) {
        const i1 = Math.min(rows, i0 + tile);
        for (let j0 = 0; j0 < cols; j0 += tile) {
          const j1 = Math.min(cols, j0 + tile);
          for (let i = i0; i < i1; i++) {
            const oRow = ob + i * cols;
            for (let j = j0; j < j1; j++) out[oRow + j] = x[xb + i + j * s]!;
          }
        }
      }
      for (let d = outer.length - 1; d >= 0; d--) {
        idx[d]!++;
        xb += outerStr[d]!;
        if (idx[d]! < outer[d]!) break;
        xb -= outerStr[d]! * outer[d]!;
        idx[d] = 0;
      }
    }
    return out;
  }
  const idx = new Array<number>(r).fill(0);
  let xi = 0;
  for (let o = 0; o < x.length; o += n) {
    for (let j = 0; j < n; j++) out[o + j] = x[xi + j * s]!;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      xi += str[d]!;
      if (idx[d]! < dims[d]!) break;
      xi -= str[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function transposeKernel(fallback: Kernel): Kernel {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const perm = args.attrs!.perm as number[];
    const backend = args.backend;
    if ((x.dtype !== "float32" && x.dtype !== "int32") || !isCpuBackend(backend)) {
      return fallback(args);
    }
    const xv = cpuValues(backend, x);
    if (!(xv instanceof Float32Array) && !(xv instanceof Int32Array)) return fallback(args);
    const shape = perm.map((p) => x.shape[p]!);
    return backend.makeTensorInfo(shape, x.dtype, transposeValues(xv, x.shape, perm));
  };
}

function softmaxKernel(fallback: Kernel): Kernel {
  return (args) => {
    const { logits } = args.inputs as { logits: tf.TensorInfo };
    const dim = args.attrs!.dim as number;
    const backend = args.backend;
    const rank = logits.shape.length;
    if (
      logits.dtype !== "float32" || !isCpuBackend(backend) || (dim !== -1 && dim !== rank - 1)
    ) {
      return fallback(args);
    }
    const x = cpuValues(backend, logits);
    if (!(x instanceof Float32Array)) return fallback(args);
    const n = logits.shape[rank - 1]!;
    const out = new Float32Array(x.length);
    for (let o = 0; o < x.length; o += n) {
      let max = -Infinity;
      for (let j = 0; j < n; j++) if (x[o + j]! > max) max = x[o + j]!;
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const e = Math.exp(x[o + j]! - max);
        out[o + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < n; j++) out[o + j]! *= inv;
    }
    return backend.makeTensorInfo([...logits.shape], "float32", out);
  };
}

function splitKernel(fallback: (args: KernelArgs) => tf.TensorInfo[]) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const backend = args.backend;
    if ((x.dtype !== "float32" && x.dtype !== "int32") || !isCpuBackend(backend)) {
      return fallback(args);
    }
    const xv = cpuValues(backend, x);
    if (!(xv instanceof Float32Array) && !(xv instanceof Int32Array)) return fallback(args);
    const rank = x.shape.length;
    const rawAxis = args.attrs!.axis as number;
    const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
    const splits = tf.backend_util.prepareSplitSize(
      x as unknown as tf.Tensor,
      args.attrs!.numOrSizeSplits as number | number[],
      axis,
    );
    let outer = 1, inner = 1;
    for (let d = 0; d < axis; d++) outer *= x.shape[d]!;
    for (let d = axis + 1; d < rank; d++) inner *= x.shape[d]!;
    const row = x.shape[axis]! * inner;
    const outs: tf.TensorInfo[] = [];
    let start = 0;
    for (const size of splits) {
      const block = size * inner;
      const out = new (xv.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(
        outer * block,
      );
      for (let o = 0; o < outer; o++) {
        const from = o * row + start * inner;
        out.set(xv.subarray(from, from + block), o * block);
      }
      const shape = [...x.shape];
      shape[axis] = size;
      outs.push(backend.makeTensorInfo(shape, x.dtype, out));
      start += size;
    }
    return outs;
  };
}

/**
 * Registers the kernels of this module for a backend built on tfjs's cpu backend, each falling
 * back to the kernel it replaces.
 *
 * @param backendName The backend (`cpu-blas`).
 */
export function registerCpuKernels(backendName: string): void {
  const fallback = (name: string): Kernel => {
    const k = tf.getKernel(name, backendName);
    if (k === undefined) throw new Error(`tfjs has no ${name} kernel for ${backendName}`);
    return k.kernelFunc as unknown as Kernel;
  };
  const binary: Array<[string, number]> = [
    ["Add", ADD],
    ["Sub", SUB],
    ["Multiply", MUL],
    ["RealDiv", DIV],
    ["SquaredDifference", SQDIFF],
  ];
  for (const [name, op] of binary) {
    registerKernelFunc(name, backendName, binaryKernel(op, fallback(name)) as tf.KernelFunc);
  }
  registerKernelFunc(
    "Transpose",
    backendName,
    transposeKernel(fallback("Transpose")) as tf.KernelFunc,
  );
  registerKernelFunc("Softmax", backendName, softmaxKernel(fallback("Softmax")) as tf.KernelFunc);
  registerKernelFunc(
    "SplitV",
    backendName,
    splitKernel(
      fallback("SplitV") as unknown as (args: KernelArgs) => tf.TensorInfo[],
    ) as unknown as tf.KernelFunc,
  );
}
