/**
 * Matrix products through an optimized BLAS. When Debian's `libopenblas0-pthread` (or another
 * OpenBLAS build) is installed and the process may use FFI, {@link enableBlas} replaces the wasm
 * backend's `BatchMatMul` kernel by one that calls `cblas_sgemm` directly on the wasm heap: no
 * copies, transposes as BLAS flags (so the slow transposed wasm kernels never run), and both cores
 * through OpenBLAS's threads. Without OpenBLAS, or without the `--allow-ffi` permission, nothing
 * changes and the plain wasm kernels run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Where OpenBLAS is looked for, first hit wins (Debian/Ubuntu, Fedora, Arch layouts). */
export const openBlasPaths: ReadonlyArray<string> = [
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
];

const symbols = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // m
      "i32", // n
      "i32", // k
      "f32", // alpha
      "buffer", // a
      "i32", // lda
      "buffer", // b
      "i32", // ldb
      "f32", // beta
      "buffer", // c
      "i32", // ldc
    ],
    result: "void",
  },
  openblas_get_config: { parameters: [], result: "pointer" },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
} as const;

type Library = Deno.DynamicLibrary<typeof symbols>;

/** What was found. */
export interface BlasInfo {
  /** The library file. */
  readonly path: string;
  /** OpenBLAS's own description, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH … Zen MAX_THREADS=64`. */
  readonly config: string;
  /** Threads OpenBLAS uses. */
  readonly threads: number;
}

let library: { lib: Library; info: BlasInfo } | null | undefined;

function ffiAllowed(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

function envThreads(): number | undefined {
  try {
    const raw = Deno.env.get("OPENBLAS_NUM_THREADS");
    const n = raw === undefined ? NaN : Number(raw);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens OpenBLAS once (later calls return the same answer). Returns `null`, silently, when no
 * library is found or FFI is not permitted. Threads: `OPENBLAS_NUM_THREADS` when set, otherwise
 * all cores.
 *
 * @param paths Library files to try, in order; default {@link openBlasPaths}.
 * @returns What was found, or `null`.
 */
export function findBlas(paths: ReadonlyArray<string> = openBlasPaths): BlasInfo | null {
  if (library !== undefined) return library?.info ?? null;
  library = null;
  if (!ffiAllowed()) return null;
  for (const path of paths) {
    let lib: Library;
    try {
      lib = Deno.dlopen(path, symbols);
    } catch {
      continue;
    }
    const threads = envThreads() ?? navigator.hardwareConcurrency ?? 1;
    lib.symbols.openblas_set_num_threads(threads);
    const pointer = lib.symbols.openblas_get_config();
    const config = pointer === null ? "OpenBLAS" : new Deno.UnsafePointerView(pointer).getCString();
    library = {
      lib,
      info: { path, config: config.trim(), threads: lib.symbols.openblas_get_num_threads() },
    };
    return library.info;
  }
  return null;
}

/** The pieces of the tfjs wasm backend this module reads (tfjs-backend-wasm 4.22). */
interface WasmBackendInternals {
  readonly wasm: { readonly HEAPU8: Uint8Array };
  readonly dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

function isWasmBackend(backend: unknown): backend is WasmBackendInternals {
  const b = backend as Partial<WasmBackendInternals> | null;
  return typeof b === "object" && b !== null && typeof b.makeOutput === "function" &&
    typeof b.wasm === "object" && typeof b.dataIdMap === "object";
}

const rowMajor = 101;
const noTrans = 111;
const trans = 112;

function sizeOf(shape: ReadonlyArray<number>): number {
  return shape.reduce((a, b) => a * b, 1);
}

let original: tf.KernelConfig | undefined;

/**
 * `BatchMatMul` on the wasm heap through `cblas_sgemm`. Leading axes broadcast when equal or when
 * one side has none or a single batch; other broadcasts go to the wasm kernel.
 */
function batchMatMul(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const transposeA = Boolean(args.attrs?.transposeA);
  const transposeB = Boolean(args.attrs?.transposeB);
  const backend = args.backend;
  const lib = library?.lib;
  const aLead = a.shape.slice(0, -2);
  const bLead = b.shape.slice(0, -2);
  const batchA = sizeOf(aLead);
  const batchB = sizeOf(bLead);
  const sameLead = aLead.length === bLead.length && aLead.every((d, i) => d === bLead[i]);
  const simple = sameLead || batchA === 1 || batchB === 1;
  if (
    lib === undefined || !isWasmBackend(backend) || a.dtype !== "float32" ||
    b.dtype !== "float32" || !simple || a.shape.length < 2 || b.shape.length < 2
  ) {
    return (original!.kernelFunc as (x: typeof args) => tf.TensorInfo)(args);
  }
  const ar = a.shape.length;
  const br = b.shape.length;
  const m = transposeA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const k = transposeA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const kb = transposeB ? b.shape[br - 1]! : b.shape[br - 2]!;
  const n = transposeB ? b.shape[br - 2]! : b.shape[br - 1]!;
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const batch = Math.max(batchA, batchB);
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(aLead, bLead), m, n];
  const out = backend.makeOutput(outShape, "float32");
  // Views of the heap are taken after the output is allocated: allocation may grow the memory.
  const buffer = backend.wasm.HEAPU8.buffer;
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const aOff = at(a);
  const bOff = at(b);
  const cOff = at(out);
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  const ta = transposeA ? trans : noTrans;
  const tb = transposeB ? trans : noTrans;
  const aStride = batchA === 1 ? 0 : m * k;
  const bStride = batchB === 1 ? 0 : k * n;
  if (m === 0 || n === 0) return out;
  for (let i = 0; i < batch; i++) {
    const av = new Float32Array(buffer, aOff + 4 * i * aStride, m * k);
    const bv = new Float32Array(buffer, bOff + 4 * i * bStride, k * n);
    const cv = new Float32Array(buffer, cOff + 4 * i * m * n, m * n);
    lib.symbols.cblas_sgemm(rowMajor, ta, tb, m, n, k, 1, av, lda, bv, ldb, 0, cv, n);
  }
  return out;
}

/**
 * Whether the BLAS kernel currently serves `BatchMatMul` on the active backend.
 *
 * @returns True on the wasm backend with OpenBLAS enabled.
 */
export function blasActive(): boolean {
  return original !== undefined && library?.lib !== undefined && tf.getBackend() === "wasm";
}

/**
 * Routes the wasm backend's matrix products through OpenBLAS when it is installed. Idempotent.
 * Call after `@tensorflow/tfjs-backend-wasm` is imported (the backend need not be active).
 *
 * @returns What is used, or `null` when OpenBLAS is absent (the wasm kernels stay).
 */
export function enableBlas(): BlasInfo | null {
  const info = findBlas();
  if (info === null) return null;
  if (original !== undefined) return info;
  const current = tf.getKernel("BatchMatMul", "wasm");
  if (current === undefined) return null;
  original = current;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName: "wasm",
    kernelFunc: batchMatMul as unknown as tf.KernelFunc,
  });
  return info;
}

/** Restores the wasm backend's own `BatchMatMul` kernel (for comparisons). */
export function disableBlas(): void {
  if (original === undefined) return;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel(original);
  original = undefined;
}

/**
 * A one-line description for reports: `"OpenBLAS 0.3.21 … (2 threads)"` or `null`.
 *
 * @returns The description of the active BLAS, or `null` when none is used.
 */
export function blasDescription(): string | null {
  const info = library?.info;
  if (info === undefined || original === undefined) return null;
  return `${info.config} (${info.threads} threads)`;
}

/** A typed view of one kernel input or output on the backend's memory. */
export type HeapView = Float32Array | Int32Array | Uint8Array;

/** A kernel written in JavaScript over views of its inputs and outputs. */
export interface HeapKernel {
  /** The kernel name (new names, or an existing one to override). */
  readonly name: string;
  /** Shapes and dtypes of the outputs, from the inputs and attributes. */
  outputs(
    inputs: ReadonlyArray<tf.TensorInfo>,
    attrs: tf.NamedAttrMap,
  ): ReadonlyArray<{ shape: number[]; dtype: "float32" | "int32" | "bool" }>;
  /** Fills the outputs. */
  run(
    inputs: ReadonlyArray<HeapView>,
    outputs: ReadonlyArray<HeapView>,
    attrs: tf.NamedAttrMap,
  ): void;
  /** Input names, in the order `run` receives them. */
  readonly inputNames: ReadonlyArray<string>;
}

function heapView(buffer: ArrayBufferLike, offset: number, info: tf.TensorInfo): HeapView {
  const size = sizeOf(info.shape);
  return info.dtype === "int32"
    ? new Int32Array(buffer, offset, size)
    : info.dtype === "bool"
    ? new Uint8Array(buffer, offset, size)
    : new Float32Array(buffer, offset, size);
}

/** The pieces of the tfjs cpu backend read by {@link registerHeapKernel}. */
interface CpuBackendInternals {
  readonly data: { get(dataId: object): { values: unknown } | undefined };
  makeTensorInfo(
    shape: number[],
    dtype: "float32" | "int32" | "bool",
    values?: HeapView,
  ): tf.TensorInfo;
}

function isCpuBackend(backend: unknown): backend is CpuBackendInternals {
  const b = backend as Partial<CpuBackendInternals> | null;
  return typeof b === "object" && b !== null && typeof b.makeTensorInfo === "function" &&
    typeof b.data === "object";
}

/**
 * Registers a JavaScript kernel for the wasm backend that reads and writes the wasm heap in place
 * (and for the cpu backend, on its typed arrays, so that tests can run it there too).
 *
 * @param kernel The kernel.
 * @param backendName `"wasm"` or `"cpu"`.
 */
export function registerHeapKernel(kernel: HeapKernel, backendName: "wasm" | "cpu"): void {
  const kernelFunc = (args: {
    inputs: tf.NamedTensorInfoMap;
    backend: unknown;
    attrs?: tf.NamedAttrMap;
  }): tf.TensorInfo | tf.TensorInfo[] => {
    const attrs = args.attrs ?? {};
    const inputs = kernel.inputNames.map((n) => args.inputs[n]!);
    const specs = kernel.outputs(inputs, attrs);
    const backend = args.backend;
    let outs: tf.TensorInfo[];
    let inViews: HeapView[];
    let outViews: HeapView[];
    if (isWasmBackend(backend)) {
      outs = specs.map((s) => backend.makeOutput(s.shape, s.dtype as "float32"));
      const buffer = backend.wasm.HEAPU8.buffer;
      const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
      inViews = inputs.map((t) => heapView(buffer, at(t), t));
      outViews = outs.map((t) => heapView(buffer, at(t), t));
      kernel.run(inViews, outViews, attrs);
    } else if (isCpuBackend(backend)) {
      inViews = inputs.map((t) => backend.data.get(t.dataId)!.values as HeapView);
      outViews = specs.map((s) =>
        s.dtype === "int32"
          ? new Int32Array(sizeOf(s.shape))
          : s.dtype === "bool"
          ? new Uint8Array(sizeOf(s.shape))
          : new Float32Array(sizeOf(s.shape))
      );
      kernel.run(inViews, outViews, attrs);
      outs = specs.map((s, i) => backend.makeTensorInfo(s.shape, s.dtype, outViews[i]!));
    } else {
      throw new Error(`Kernel ${kernel.name} runs on the wasm and cpu backends only`);
    }
    return outs.length === 1 ? outs[0]! : outs;
  };
  registerKernelFunc(kernel.name, backendName, kernelFunc as tf.KernelFunc);
}

/**
 * Replaces the kernel registered under a name for a backend.
 *
 * @param kernelName The kernel.
 * @param backendName The backend.
 * @param kernelFunc The new implementation.
 */
export function registerKernelFunc(
  kernelName: string,
  backendName: string,
  kernelFunc: tf.KernelFunc,
): void {
  if (tf.getKernel(kernelName, backendName) !== undefined) {
    tf.unregisterKernel(kernelName, backendName);
  }
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}
