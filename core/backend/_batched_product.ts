/**
 * The layout of a batched matrix product for the strided kernels on the wasm heap (OpenBLAS's
 * `cblas_sgemm` in `wasm_blas.ts`, the SIMD product in `wasm_simd.ts`): sizes, strides, leading
 * dimensions and the output shape, or `null` where a strided batch cannot serve it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { sizeOf } from "./js_kernel.ts";
import { matMulSizes } from "./openblas.ts";

/**
 * The layout of a float32 `BatchMatMul` whose leading axes are equal, or absent or a single batch
 * on one side (the broadcasts a strided batched product serves), for row-major kernels on a heap.
 */
export interface BatchedProduct {
  /** Rows, inner size and columns of one product. */
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** The output's shape: the broadcast leading axes, then `[m, n]`. */
  readonly outShape: number[];
  /** Products in the batch. */
  readonly batch: number;
  /** Elements between consecutive matrices of `a` and `b` (0: broadcast) and of the output. */
  readonly strideA: number;
  readonly strideB: number;
  readonly strideC: number;
  /** Leading dimensions of `a` and `b` as stored. */
  readonly lda: number;
  readonly ldb: number;
  readonly transA: boolean;
  readonly transB: boolean;
}

/**
 * Plans a batched product for a strided kernel, or says it cannot serve it.
 *
 * @param a The left operand.
 * @param b The right operand.
 * @param attrs The kernel's attributes (`transposeA`, `transposeB`).
 * @returns The plan, or `null` for another dtype, a rank below 2 or another broadcast.
 * @throws Error (tfjs's own wording) when the inner sizes differ.
 */
export function batchedProduct(
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  attrs: tf.NamedAttrMap | undefined,
): BatchedProduct | null {
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) {
    return null;
  }
  const aLead = a.shape.slice(0, -2), bLead = b.shape.slice(0, -2);
  const batchA = sizeOf(aLead), batchB = sizeOf(bLead);
  const sameLead = aLead.length === bLead.length && aLead.every((d, i) => d === bLead[i]);
  if (!(sameLead || batchA === 1 || batchB === 1)) return null;
  const transA = Boolean(attrs?.transposeA), transB = Boolean(attrs?.transposeB);
  const { m, k, n } = matMulSizes(a.shape, b.shape, transA, transB);
  return {
    m,
    k,
    n,
    outShape: [...tf.broadcast_util.assertAndGetBroadcastShape(aLead, bLead), m, n],
    batch: Math.max(batchA, batchB),
    strideA: batchA === 1 ? 0 : m * k,
    strideB: batchB === 1 ? 0 : k * n,
    strideC: m * n,
    lda: transA ? m : k,
    ldb: transB ? k : n,
    transA,
    transB,
  };
}
