/**
 * Kernels written in JavaScript over typed views of their inputs and outputs, registered with
 * tfjs for a backend in the standard way (`tf.registerKernel`): on the wasm backend the views are
 * windows on the wasm heap (no copies); on the cpu backends (`cpu`, `cpu-blas`) they are the
 * tensors' own typed arrays.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

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
  /** Fills the outputs (which start zeroed on the cpu backends, uninitialised on wasm). */
  run(
    inputs: ReadonlyArray<HeapView>,
    outputs: ReadonlyArray<HeapView>,
    attrs: tf.NamedAttrMap,
  ): void;
  /** Input names, in the order `run` receives them. */
  readonly inputNames: ReadonlyArray<string>;
}

/** A kernel view as float32 (the caller knows the tensor's dtype). */
export const f32 = (v: HeapView): Float32Array => v as Float32Array;
/** A kernel view as int32. */
export const i32 = (v: HeapView): Int32Array => v as Int32Array;

/**
 * {@link HeapKernel.outputs} for a kernel with one float32 output shaped like its first input.
 *
 * @param inputs The kernel's inputs.
 * @returns One output spec.
 */
export function sameOutput(
  inputs: ReadonlyArray<{ readonly shape: ReadonlyArray<number> }>,
): Array<{ shape: number[]; dtype: "float32" }> {
  return [{ shape: [...inputs[0]!.shape], dtype: "float32" }];
}

/**
 * Number of elements of a shape.
 *
 * @param shape Dimensions.
 * @returns Their product (1 for a scalar).
 */
export function sizeOf(shape: ReadonlyArray<number>): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The pieces of the tfjs wasm backend read here (tfjs-backend-wasm 4.22). */
export interface WasmBackendInternals {
  /** The module; its heap. */
  readonly wasm: { readonly HEAPU8: Uint8Array };
  /** Where each tensor lives on the heap. */
  readonly dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  /** Allocates an output on the heap. */
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

/**
 * Whether a kernel's backend argument is the tfjs wasm backend.
 *
 * @param backend The `backend` a kernel function receives.
 * @returns True for the wasm backend.
 */
export function isWasmBackend(backend: unknown): backend is WasmBackendInternals {
  const b = backend as Partial<WasmBackendInternals> | null;
  return typeof b === "object" && b !== null && typeof b.makeOutput === "function" &&
    typeof b.wasm === "object" && typeof b.dataIdMap === "object";
}

/** The pieces of the tfjs cpu backend (`cpu` and `cpu-blas`) read here. */
export interface CpuBackendInternals {
  /** The tensors' values by data id. */
  readonly data: { get(dataId: object): { values?: unknown } | undefined };
  /** Wraps values (or fresh zeros) as a tensor of this backend. */
  makeTensorInfo(
    shape: number[],
    dtype: "float32" | "int32" | "bool",
    values?: HeapView,
  ): tf.TensorInfo;
}

/**
 * Whether a kernel's backend argument is a tfjs cpu backend (`cpu` or `cpu-blas`).
 *
 * @param backend The `backend` a kernel function receives.
 * @returns True for a cpu backend.
 */
export function isCpuBackend(backend: unknown): backend is CpuBackendInternals {
  const b = backend as Partial<CpuBackendInternals> | null;
  return typeof b === "object" && b !== null && typeof b.makeTensorInfo === "function" &&
    typeof b.data === "object" && !isWasmBackend(backend);
}

/**
 * The values of a tensor on a cpu backend.
 *
 * @param backend A cpu backend.
 * @param t The tensor.
 * @returns Its typed array (shared, not copied).
 */
export function cpuValues(backend: CpuBackendInternals, t: tf.TensorInfo): HeapView {
  return backend.data.get(t.dataId)!.values as HeapView;
}

/**
 * A fresh zeroed typed array for a dtype.
 *
 * @param dtype `float32`, `int32` or `bool`.
 * @param size Elements.
 * @returns The array.
 */
export function newValues(dtype: "float32" | "int32" | "bool", size: number): HeapView {
  return dtype === "int32"
    ? new Int32Array(size)
    : dtype === "bool"
    ? new Uint8Array(size)
    : new Float32Array(size);
}

function heapView(buffer: ArrayBufferLike, offset: number, info: tf.TensorInfo): HeapView {
  const size = sizeOf(info.shape);
  return info.dtype === "int32"
    ? new Int32Array(buffer, offset, size)
    : info.dtype === "bool"
    ? new Uint8Array(buffer, offset, size)
    : new Float32Array(buffer, offset, size);
}

/** The arguments tfjs passes a kernel function. */
export interface KernelArgs {
  /** Inputs by name. */
  readonly inputs: tf.NamedTensorInfoMap;
  /** The backend instance. */
  readonly backend: unknown;
  /** Attributes. */
  readonly attrs?: tf.NamedAttrMap;
}

/**
 * Registers a JavaScript kernel for a backend: on wasm it reads and writes the wasm heap in place,
 * on the cpu backends the tensors' typed arrays.
 *
 * @param kernel The kernel.
 * @param backendName `"wasm"`, `"cpu"` or `"cpu-blas"`.
 * @throws Error (when run) on any other backend.
 */
export function registerHeapKernel(kernel: HeapKernel, backendName: string): void {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const attrs = args.attrs ?? {};
    const inputs = kernel.inputNames.map((n) => args.inputs[n]!);
    const specs = kernel.outputs(inputs, attrs);
    const backend = args.backend;
    let outs: tf.TensorInfo[];
    if (isWasmBackend(backend)) {
      outs = specs.map((s) => backend.makeOutput(s.shape, s.dtype as "float32"));
      // Views are taken after the outputs are allocated: allocation may grow the memory.
      const buffer = backend.wasm.HEAPU8.buffer;
      const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
      const inViews = inputs.map((t) => heapView(buffer, at(t), t));
      const outViews = outs.map((t) => heapView(buffer, at(t), t));
      kernel.run(inViews, outViews, attrs);
    } else if (isCpuBackend(backend)) {
      const inViews = inputs.map((t) => cpuValues(backend, t));
      const outViews = specs.map((s) => newValues(s.dtype, sizeOf(s.shape)));
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
