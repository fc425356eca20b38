/**
 * The wasm backend's matrix products through a wasm SIMD kernel of our own
 * (`simd/sgemm.as.ts`, AssemblyScript compiled to wasm with 128-bit SIMD, shipped as base64 in
 * `simd/sgemm_wasm.ts`): {@link enableSimd} replaces tfjs wasm's `BatchMatMul` by one that runs
 * a register-blocked (4×8 micro-tile) single-precision product directly on tfjs's wasm heap. Our
 * module imports tfjs's `WebAssembly.Memory` (`backend.wasm.asm.memory`), so tensors are read and
 * written in place at their heap offsets; it has no allocator and no data of its own (its packing
 * buffer is `malloc`ed from tfjs's heap once and reused). Transposes are flags, so tfjs's slow
 * transposed kernels never run, and a batch of small products (attention's per-head
 * `[64, 16]·[16, 64]`) costs one call instead of one XNNPACK set-up per matrix.
 *
 * The same module exports f32x4 row and elementwise kernels ({@link simdRowKernels}: the causal
 * softmax and its Jacobian, both GELUs, LayerNorm, column sums, the row max and sum of exps and the
 * gradient of the log-softmax at the target), which the fused kernels call on wasm unless
 * {@link setSimdRows}`(false)` or `PROBSFT_SIMD_ROWS=0`.
 *
 * The product is used on plain wasm (no BLAS: neither OpenBLAS nor the bundled sgemm, or
 * `PROBSFT_BLAS=0`) unless `PROBSFT_SIMD=0`; the row kernels also with a BLAS.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { isWasmBackend, type KernelArgs, type WasmBackendInternals } from "./js_kernel.ts";
import { batchedProduct } from "./_batched_product.ts";
import { sgemmWasmBase64 } from "./simd/sgemm_wasm.ts";

/** The exported function of the compiled module (see `simd/sgemm.as.ts`). */
type SgemmFn = (
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  c: number,
  ldc: number,
  beta: number,
  batch: number,
  strideA: number,
  strideB: number,
  strideC: number,
  scratch: number,
) => void;

/** tfjs wasm's Emscripten module, the parts read here (tfjs-backend-wasm 4.22). */
interface EmscriptenModule {
  readonly asm?: { readonly memory?: unknown };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
}

/** The module's elementwise and row kernels (see `simd/sgemm.as.ts`); addresses are bytes. */
export interface SimdRowKernels {
  /** `y[i] = exp(x[i])` for `i < n` (polynomial, relative error ≤ 2e-7 on [−87.3, 88.3]). */
  readonly expArray: (x: number, y: number, n: number) => void;
  /** The causal softmax of `squares` consecutive `[time, time]` score squares, in place. */
  readonly softmaxCausal: (p: number, time: number, squares: number, scale: number) => void;
  /** The causal softmax's Jacobian of one square, in place on `dp`. */
  readonly softmaxCausalGrad: (p: number, dp: number, time: number, scale: number) => void;
  /** Exact GELU of `n` floats. */
  readonly geluErf: (x: number, y: number, n: number) => void;
  /** Its gradient: `dx = dy·gelu′(x)`. */
  readonly geluErfGrad: (dy: number, x: number, dx: number, n: number) => void;
  /** LayerNorm of `rows` rows of `d` floats, with row means and inverse deviations. */
  readonly layerNorm: (
    x: number,
    w: number,
    b: number,
    y: number,
    mean: number,
    rstd: number,
    rows: number,
    d: number,
    eps: number,
  ) => void;
  /** Its gradient (`dx`, and `dw`, `db` summed over rows). */
  readonly layerNormGrad: (
    dy: number,
    x: number,
    w: number,
    mean: number,
    rstd: number,
    dx: number,
    dw: number,
    db: number,
    rows: number,
    d: number,
  ) => void;
  /** GPT-2's tanh GELU of `n` floats (Eigen's rational tanh, as the JavaScript kernel). */
  readonly geluTanh: (x: number, y: number, n: number) => void;
  /** Its gradient. */
  readonly geluTanhGrad: (dy: number, x: number, dx: number, n: number) => void;
  /** Column sums of `rows` rows of `d` floats. */
  readonly columnSum: (x: number, out: number, rows: number, d: number) => void;
  /** Per row of `v` floats: its maximum and `Σ exp(z − max)`. */
  readonly rowMaxSumExp: (z: number, mx: number, sum: number, rows: number, v: number) => void;
  /** The log-softmax-at-target gradient: `dz = dy·(1[j = id] − exp(z − lse))` (int32 ids). */
  readonly targetLogProbGrad: (
    dy: number,
    z: number,
    ids: number,
    lse: number,
    dz: number,
    rows: number,
    v: number,
  ) => void;
}

interface Instance {
  readonly memory: WebAssembly.Memory;
  readonly sgemm: SgemmFn;
  readonly rows: SimdRowKernels;
  readonly scratchBytes: (m: number, n: number, k: number) => number;
  readonly module: EmscriptenModule;
  scratch: number;
  scratchSize: number;
}

let compiled: WebAssembly.Module | undefined;
let instance: Instance | null | undefined;

function decode(b64: string): Uint8Array {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/**
 * The SIMD module instantiated on a wasm backend's memory, or `null` when that memory is not
 * reachable or the runtime lacks wasm SIMD.
 */
function simdInstance(backend: WasmBackendInternals): Instance | null {
  const module = backend.wasm as unknown as EmscriptenModule;
  const memory = module.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  if (instance !== undefined && (instance === null || instance.memory === memory)) return instance;
  try {
    compiled ??= new WebAssembly.Module(decode(sgemmWasmBase64) as BufferSource);
    const exports = new WebAssembly.Instance(compiled, { env: { memory } }).exports;
    instance = {
      memory,
      sgemm: exports.sgemm as SgemmFn,
      scratchBytes: exports.scratchBytes as Instance["scratchBytes"],
      rows: exports as unknown as SimdRowKernels,
      module,
      scratch: 0,
      scratchSize: 0,
    };
  } catch {
    instance = null;
  }
  return instance;
}

/** A packing buffer of at least `bytes` on the heap (kept and reused; grown by doubling). */
function scratch(inst: Instance, bytes: number): number {
  if (inst.scratchSize < bytes) {
    if (inst.scratch !== 0) inst.module._free(inst.scratch);
    const size = Math.max(bytes, 2 * inst.scratchSize, 1 << 16);
    inst.scratch = inst.module._malloc(size) >>> 0;
    inst.scratchSize = size;
  }
  return inst.scratch;
}

let work = 0;
let workSize = 0;

/**
 * Prepares the SIMD kernel for a kernel that calls {@link simdGemm} on heap views: grows the
 * packing buffer for products up to `m × n × k` (each at most) and a work area of `workBytes`
 * bytes on tfjs's heap, before the caller takes its views (an allocation may grow the memory and
 * detach older views).
 *
 * @param m Largest rows of a product.
 * @param n Largest columns.
 * @param k Largest depth.
 * @param workBytes Bytes of work area wanted (0 for none).
 * @returns The heap's buffer (take views on it after this call) and the work area's byte offset,
 *   or `null` when the SIMD kernel does not serve the active backend (disabled, not wasm, or not
 *   instantiable).
 */
export function simdReserve(
  m: number,
  n: number,
  k: number,
  workBytes: number,
): { buffer: ArrayBufferLike; work: number } | null {
  const backend = tf.backend();
  if (!enabled || !isWasmBackend(backend)) return null;
  const inst = simdInstance(backend);
  if (inst === null) return null;
  scratch(inst, inst.scratchBytes(m, n, k));
  if (workSize < workBytes) {
    if (work !== 0) inst.module._free(work);
    workSize = Math.max(workBytes, 2 * workSize);
    work = inst.module._malloc(workSize) >>> 0;
  }
  return { buffer: inst.memory.buffer, work };
}

let rowsEnabled = (() => {
  try {
    return Deno.env.get("PROBSFT_SIMD_ROWS") !== "0";
  } catch {
    return true;
  }
})();

/**
 * Turns the compiled elementwise and row kernels (softmax rows, GELU, the log-softmax at the
 * target, …) on or off: the SIMD module's on wasm, the native library's on cpu-blas
 * (`native_rows.ts`); for before/after timings and tests (on by default; `PROBSFT_SIMD_ROWS=0`
 * starts off). Off, their callers run their JavaScript loops or tfjs compositions; the matrix
 * products are unaffected.
 *
 * @param on Whether to use them.
 */
export function setSimdRows(on: boolean): void {
  rowsEnabled = on;
}

/**
 * Whether the compiled row kernels are on ({@link setSimdRows}): the SIMD module's on wasm, the
 * native library's on cpu-blas (`native_rows.ts`).
 *
 * @returns True unless turned off.
 */
export function rowKernelsEnabled(): boolean {
  return rowsEnabled;
}

/**
 * The SIMD module's elementwise and row kernels for the active backend, when SIMD serves it
 * (enabled, wasm, instantiable): they run on tfjs's heap at the byte offsets of its tensors.
 *
 * @returns The kernels, or `null` (then callers use their JavaScript or tfjs paths).
 */
export function simdRowKernels(): SimdRowKernels | null {
  const backend = tf.backend();
  if (!enabled || !rowsEnabled || !isWasmBackend(backend)) return null;
  return simdInstance(backend)?.rows ?? null;
}

/**
 * `C_i = op(A_i)·op(B_i)` (plus `C_i` when `accumulate`) for `i < batch` on the wasm heap, row-major
 * float32, through the SIMD kernel.
 *
 * @param backend The wasm backend (its heap holds every operand).
 * @param p Sizes (`m`, `n`, `k`: `op(A)` is `[m, k]`, `op(B)` `[k, n]`), transposes, byte offsets
 *   `a`, `b`, `c` on the heap, row strides `lda`, `ldb`, `ldc` and batch strides in floats (0
 *   broadcasts).
 * @returns False when the kernel is unavailable (nothing was written).
 */
export function simdGemm(
  backend: WasmBackendInternals,
  p: {
    transA: boolean;
    transB: boolean;
    m: number;
    n: number;
    k: number;
    a: number;
    lda: number;
    b: number;
    ldb: number;
    c: number;
    ldc: number;
    accumulate?: boolean;
    batch?: number;
    strideA?: number;
    strideB?: number;
    strideC?: number;
  },
): boolean {
  const inst = simdInstance(backend);
  if (inst === null) return false;
  const buf = scratch(inst, inst.scratchBytes(p.m, p.n, p.k));
  inst.sgemm(
    p.transA ? 1 : 0,
    p.transB ? 1 : 0,
    p.m,
    p.n,
    p.k,
    p.a,
    p.lda,
    p.b,
    p.ldb,
    p.c,
    p.ldc,
    p.accumulate ? 1 : 0,
    p.batch ?? 1,
    p.strideA ?? 0,
    p.strideB ?? 0,
    p.strideC ?? 0,
    buf,
  );
  return true;
}

let enabled = false;
let fallback: tf.KernelConfig | undefined;

/**
 * `BatchMatMul` through the SIMD kernel. Leading axes broadcast when equal or when one side has a
 * single batch; other broadcasts, other dtypes and other backends go to the kernel that was
 * registered before.
 */
function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const backend = args.backend;
  const plan = enabled && isWasmBackend(backend) ? batchedProduct(a, b, args.attrs) : null;
  if (plan === null || !isWasmBackend(backend) || simdInstance(backend) === null) {
    return (fallback!.kernelFunc as (x: typeof args) => tf.TensorInfo)(args);
  }
  const { m, n, k } = plan;
  const out = backend.makeOutput(plan.outShape, "float32");
  if (m === 0 || n === 0) return out;
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  simdGemm(backend, {
    transA: plan.transA,
    transB: plan.transB,
    m,
    n,
    k,
    a: at(a),
    lda: plan.lda,
    b: at(b),
    ldb: plan.ldb,
    c: at(out),
    ldc: n,
    batch: plan.batch,
    strideA: plan.strideA,
    strideB: plan.strideB,
    strideC: plan.strideC,
  });
  return out;
}

/**
 * Whether the SIMD kernel serves the wasm backend's `BatchMatMul` (enabled, and the kernel could
 * be instantiated on the backend's memory).
 *
 * @returns True when enabled and the active backend is wasm.
 */
export function simdActive(): boolean {
  return enabled && tf.getBackend() === "wasm";
}

/**
 * Routes the wasm backend's matrix products through the SIMD kernel. Idempotent. Call after
 * `@tensorflow/tfjs-backend-wasm` is imported; the products of a backend whose memory cannot be
 * reached keep the previous kernel.
 *
 * @returns True when the kernel was registered.
 */
export function enableSimd(): boolean {
  enabled = true;
  const current = tf.getKernel("BatchMatMul", "wasm");
  if (current === undefined) return false;
  if (current.kernelFunc === (batchMatMul as unknown as tf.KernelFunc)) return true;
  if (fallback === undefined) {
    fallback = current;
    tf.unregisterKernel("BatchMatMul", "wasm");
    tf.registerKernel({
      kernelName: "BatchMatMul",
      backendName: "wasm",
      kernelFunc: batchMatMul as unknown as tf.KernelFunc,
    });
  }
  return true;
}

/**
 * Stops using the SIMD kernel: restores the previous `BatchMatMul` when ours is the registered
 * one, and otherwise (another kernel, e.g. OpenBLAS's, was registered over it) makes ours pass
 * every product to its fallback.
 */
export function disableSimd(): void {
  enabled = false;
  const current = tf.getKernel("BatchMatMul", "wasm");
  if (fallback !== undefined && current?.kernelFunc === (batchMatMul as unknown as tf.KernelFunc)) {
    tf.unregisterKernel("BatchMatMul", "wasm");
    tf.registerKernel(fallback);
    fallback = undefined;
  }
}
