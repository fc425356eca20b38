/**
 * The attributes of the fused causal-attention kernels (`attention_kernel.ts`), shared by their
 * wasm SIMD (`attention_simd.ts`) and cpu-blas (`attention_blas.ts`) variants.
 *
 * @module
 */

/** Attributes of the two kernels. */
export interface AttentionAttrs {
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (divides `heads`). */
  readonly kvHeads: number;
  /** The score scale, usually `1/√headDim`. */
  readonly scale: number;
  /** Rows. */
  readonly batch: number;
  /** Positions per row. */
  readonly time: number;
  /** Size of a head. */
  readonly headDim: number;
}
