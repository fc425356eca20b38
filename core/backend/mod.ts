/**
 * The tensor backends and the kernels probsft registers for them, in one place:
 *
 * - `select.ts`: backend names, start-up ({@link useBackend}, {@link ensureBackend});
 * - `by_size.ts`: the backend for a model's size ({@link backendFor}, {@link useBackendFor});
 * - `openblas.ts`: OpenBLAS loaded once through Deno's FFI;
 * - `wasm_blas.ts`: the wasm backend's `BatchMatMul` on its heap through OpenBLAS;
 * - `wasm_simd.ts`: the wasm backend's `BatchMatMul` through our wasm SIMD kernel (`simd/`), when
 *   OpenBLAS does not serve it (`PROBSFT_SIMD=0` turns it off), and the same module's row kernels
 *   (softmax rows, GELU, LayerNorm, column sums; {@link setSimdRows});
 * - `cpu_blas.ts`: the `cpu-blas` backend (tfjs cpu + OpenBLAS `BatchMatMul`);
 * - `cpu_kernels.ts`: faster JavaScript kernels for `cpu-blas` (broadcast arithmetic, transpose,
 *   softmax);
 * - `fused_kernels.ts`: the fused kernels (LayerNorm, tanh GELU, embedding gather/scatter, …) for
 *   wasm and cpu-blas;
 * - `js_kernel.ts`: registering a JavaScript kernel over typed views of a backend's memory.
 *
 * Importing this module starts the default backend.
 *
 * @module
 */
export * from "./select.ts";
export * from "./by_size.ts";
export { type BlasInfo, findBlas, openBlasPaths } from "./openblas.ts";
export { blasActive, blasDescription, disableBlas, enableBlas } from "./wasm_blas.ts";
export { disableSimd, enableSimd, setSimdRows, simdActive } from "./wasm_simd.ts";
export { cpuBlasName, cpuBlasUnavailable } from "./cpu_blas.ts";
export { fastPathsActive, setFastPaths } from "./fused_kernels.ts";
