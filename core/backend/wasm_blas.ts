/**
 * The wasm backend's matrix products through a BLAS (OpenBLAS, or the bundled product where it is
 * not installed; `openblas.ts`): {@link enableBlas} replaces its
 * `BatchMatMul` kernel by one that calls `cblas_sgemm` directly on the wasm heap (no copies,
 * transposes as BLAS flags, so the slow transposed wasm kernels never run, and both cores through
 * OpenBLAS's threads). Without a BLAS, or without the `--allow-ffi` permission, nothing changes
 * and the wasm SIMD kernels run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { findBlas, noTrans, openBlasDescription, sgemm, sgemmBatched, trans } from "./openblas.ts";
import { batchedProduct } from "./_batched_product.ts";
import { isWasmBackend, type KernelArgs } from "./js_kernel.ts";
import { cpuBlasName } from "./cpu_blas.ts";

let original: tf.KernelConfig | undefined;

/**
 * `BatchMatMul` on the wasm heap through `cblas_sgemm`. Leading axes broadcast when equal or when
 * one side has none or a single batch; other broadcasts go to the wasm kernel.
 */
function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const backend = args.backend;
  const gemm = sgemm();
  const plan = gemm !== null && isWasmBackend(backend) ? batchedProduct(a, b, args.attrs) : null;
  if (plan === null || gemm === null || !isWasmBackend(backend)) {
    return (original!.kernelFunc as (x: typeof args) => tf.TensorInfo)(args);
  }
  const { m, k, n } = plan;
  const out = backend.makeOutput(plan.outShape, "float32");
  if (m === 0 || n === 0) return out;
  // Views of the heap are taken after the output is allocated: allocation may grow the memory.
  const buffer = backend.wasm.HEAPU8.buffer;
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const aOff = at(a), bOff = at(b), cOff = at(out);
  const batched = sgemmBatched();
  if (batched !== null) {
    // One call for the whole batch (the bundled product); views span every matrix.
    const span = (stride: number, size: number) => stride * (plan.batch - 1) + size;
    batched(
      plan.transA,
      plan.transB,
      m,
      n,
      k,
      1,
      new Float32Array(buffer, aOff, span(plan.strideA, m * k)),
      plan.lda,
      new Float32Array(buffer, bOff, span(plan.strideB, k * n)),
      plan.ldb,
      0,
      new Float32Array(buffer, cOff, span(plan.strideC, m * n)),
      n,
      plan.batch,
      plan.strideA,
      plan.strideB,
      plan.strideC,
    );
    return out;
  }
  const ta = plan.transA ? trans : noTrans, tb = plan.transB ? trans : noTrans;
  for (let i = 0; i < plan.batch; i++) {
    const av = new Float32Array(buffer, aOff + 4 * i * plan.strideA, m * k);
    const bv = new Float32Array(buffer, bOff + 4 * i * plan.strideB, k * n);
    const cv = new Float32Array(buffer, cOff + 4 * i * plan.strideC, m * n);
    gemm(ta, tb, m, n, k, 1, av, plan.lda, bv, plan.ldb, 0, cv, n);
  }
  return out;
}

/**
 * Whether a BLAS kernel serves `BatchMatMul` on the active backend (so that a transposed product
 * costs no more than a plain one).
 *
 * @returns True on the wasm backend with OpenBLAS enabled, and on `cpu-blas`.
 */
export function blasActive(): boolean {
  const name = tf.getBackend();
  return name === cpuBlasName || (original !== undefined && name === "wasm");
}

/**
 * Routes the wasm backend's matrix products through OpenBLAS when it is installed. Idempotent.
 * Call after `@tensorflow/tfjs-backend-wasm` is imported (the backend need not be active).
 *
 * @returns What is used, or `null` when OpenBLAS is absent (the wasm kernels stay).
 */
export function enableBlas(): ReturnType<typeof findBlas> {
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
 * @returns The description of the BLAS the active backend uses, or `null` when none is used.
 */
export function blasDescription(): string | null {
  return blasActive() ? openBlasDescription() : null;
}
