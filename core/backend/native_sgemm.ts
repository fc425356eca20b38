/**
 * probsft's bundled native library: the matrix product that stands in for OpenBLAS where it is
 * not installed, a GotoBLAS/BLIS-style single-precision product with 6×16 AVX2/FMA and 6×32
 * AVX-512 micro-kernels (`native/sgemm.c`), and the cpu-blas backend's row kernels
 * (`native/rows.c`, bound by `native_rows.ts`). `deno task build-kernels` compiles both with gcc
 * into one shared object shipped as base64 in `native/sgemm_so.ts`; {@link nativeLibrary} writes
 * it to a temporary file, opens it with Deno's FFI and deletes the file (the mapping stays).
 * Single-threaded.
 *
 * It serves only x86-64 Linux with AVX2 and FMA (`/proc/cpuinfo`), with the FFI and write
 * permissions and a temporary folder that allows executable mappings; elsewhere it says so by
 * returning `null`, and the wasm SIMD kernels (or JavaScript loops) run.
 *
 * @module
 */
import { sgemmSoBase64 } from "./native/sgemm_so.ts";

/**
 * Deno FFI types of a row-major sgemm's arguments after CBLAS's `order`: transA, transB, m, n, k,
 * alpha, a, lda, b, ldb, beta, c, ldc (`cblas_sgemm` in `openblas.ts` and `probsft_sgemm` share
 * them).
 */
export const gemmParameters = [
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "f32",
  "buffer",
  "i32",
  "buffer",
  "i32",
  "f32",
  "buffer",
  "i32",
] as const;

const symbols = {
  probsft_sgemm: {
    // transA and transB are 0 or 1; then batch and the strides in floats (0 broadcasts).
    parameters: [...gemmParameters, "i32", "i64", "i64", "i64"],
    result: "i32",
  },
  // The row kernels of native/rows.c (used by native_rows.ts).
  probsft_target_log_prob: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i32", "i32"],
    result: "void",
  },
  probsft_target_log_prob_grad: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "i32", "i32"],
    result: "void",
  },
  probsft_softmax_causal: {
    parameters: ["buffer", "buffer", "i32", "i32", "f32"],
    result: "void",
  },
  probsft_softmax_causal_grad: {
    parameters: ["buffer", "buffer", "buffer", "i32", "i32", "f32"],
    result: "void",
  },
  probsft_gelu_tanh: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  probsft_gelu_tanh_grad: { parameters: ["buffer", "buffer", "buffer", "i64"], result: "void" },
} as const;

/** The bundled shared object's functions, as Deno's FFI binds them. */
export type NativeSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/**
 * `batch` row-major products `C_i ← alpha·op(A_i)·op(B_i) + beta·C_i` (`op(A)` `m × k`, `op(B)`
 * `k × n`), `A_i` starting `i·strideA` floats into `a` (0: the same matrix), likewise `B_i`, `C_i`.
 * `beta = 0` never reads `C`.
 *
 * @throws Error when the packing buffers cannot be allocated (nothing was written).
 */
export type BatchedSgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
  batch: number,
  strideA: number,
  strideB: number,
  strideC: number,
) => void;

/** The loaded library. */
export interface NativeSgemm {
  /** One-line description for reports. */
  readonly description: string;
  /** The product. */
  readonly sgemm: BatchedSgemm;
}

/**
 * The CPU's feature flags from `/proc/cpuinfo` (e.g. `avx2`, `fma`, `avx512f`).
 *
 * @returns The flags of the first processor, or an empty set where they cannot be read.
 */
export function cpuFlags(): ReadonlySet<string> {
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    const line = text.split("\n").find((l) => l.startsWith("flags"));
    if (line !== undefined) return new Set(line.split(":")[1]!.trim().split(/\s+/));
  } catch {
    // Not Linux, or no read permission.
  }
  return new Set();
}

let opened: NativeSymbols | null | undefined;

/**
 * Opens the bundled shared object once (later calls return the same answer).
 *
 * @returns Its functions, or `null` on another platform or CPU (x86-64 Linux with AVX2 and FMA
 *   only), without the FFI and write permissions already granted, or when the shared object
 *   cannot be written or opened.
 */
export function nativeLibrary(): NativeSymbols | null {
  if (opened !== undefined) return opened;
  opened = null;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return null;
  const flags = cpuFlags();
  if (!flags.has("avx2") || !flags.has("fma")) return null;
  let path: string | undefined;
  try {
    // Both permissions up front: asking would prompt in a terminal instead of falling back.
    const granted = (name: "ffi" | "write") =>
      Deno.permissions.querySync({ name }).state === "granted";
    if (!granted("ffi") || !granted("write")) return null;
    path = Deno.makeTempFileSync({ prefix: "probsft-sgemm-", suffix: ".so" });
    Deno.writeFileSync(path, Uint8Array.from(atob(sgemmSoBase64), (c) => c.charCodeAt(0)));
    opened = Deno.dlopen(path, symbols).symbols;
  } catch {
    opened = null;
  } finally {
    if (path !== undefined) {
      try {
        Deno.removeSync(path);
      } catch {
        // Already gone.
      }
    }
  }
  return opened;
}

let loaded: NativeSgemm | null | undefined;

/**
 * The bundled product, from {@link nativeLibrary}.
 *
 * @returns The product, or `null` where the library cannot be opened.
 */
export function loadNativeSgemm(): NativeSgemm | null {
  if (loaded !== undefined) return loaded;
  const lib = nativeLibrary();
  loaded = null;
  if (lib !== null) {
    const raw = lib.probsft_sgemm;
    const flags = cpuFlags();
    loaded = {
      description: `probsft sgemm (bundled; ${flags.has("avx512f") ? "AVX-512, " : ""}AVX2, FMA)`,
      sgemm: (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, batch, sa, sb, sc) => {
        const rc = raw(
          ta ? 1 : 0,
          tb ? 1 : 0,
          m,
          n,
          k,
          alpha,
          a,
          lda,
          b,
          ldb,
          beta,
          c,
          ldc,
          batch,
          BigInt(sa),
          BigInt(sb),
          BigInt(sc),
        );
        if (rc !== 0) throw new Error(`probsft sgemm: out of memory for its packing buffers`);
      },
    };
  }
  return loaded;
}
