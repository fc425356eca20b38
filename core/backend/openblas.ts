/**
 * The BLAS behind the matrix products of the wasm heap and of cpu-blas, opened once through
 * Deno's FFI: OpenBLAS when Debian's `libopenblas0-pthread` (or another OpenBLAS build) is
 * installed, otherwise probsft's bundled product (`native_sgemm.ts`: x86-64 Linux with AVX2 and
 * FMA). {@link findBlas} opens it and {@link sgemm} is its `cblas_sgemm`; where neither serves (or
 * without the FFI permission) both say so by returning `null`. `PROBSFT_BLAS=bundled` skips
 * OpenBLAS (to time a machine without it); `PROBSFT_BLAS=openblas` never falls back to the bundled
 * product.
 *
 * @module
 */
import { type BatchedSgemm, cpuFlags, gemmParameters, loadNativeSgemm } from "./native_sgemm.ts";

/** Where OpenBLAS is looked for, first hit wins (Debian/Ubuntu, Fedora, Arch, Homebrew layouts). */
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
  cblas_sgemm: { parameters: ["i32", ...gemmParameters], result: "void" }, // order first
  openblas_get_config: { parameters: [], result: "pointer" },
  openblas_get_corename: { parameters: [], result: "pointer" },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
} as const;

type Library = Deno.DynamicLibrary<typeof symbols>;

/** What was found. */
export interface BlasInfo {
  /** The library file, or `bundled` for probsft's own product. */
  readonly path: string;
  /**
   * OpenBLAS's own description and the kernels it runs, e.g.
   * `OpenBLAS 0.3.21 … DYNAMIC_ARCH … MAX_THREADS=64 (kernels: SkylakeX)`, or the bundled
   * product's.
   */
  readonly config: string;
  /** Threads OpenBLAS uses. */
  readonly threads: number;
}

/**
 * `cblas_sgemm` in row-major order: `C ← alpha·op(A)·op(B) + beta·C`, `op(A)` `m × k`, `op(B)`
 * `k × n`, `C` `m × n`; `transA`/`transB` are {@link noTrans} or {@link trans}; the views start at
 * the first element of each matrix. Blocks the calling thread while OpenBLAS's threads run.
 */
export type Sgemm = (
  transA: number,
  transB: number,
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
) => void;

/** CBLAS: no transpose. */
export const noTrans = 111;
/** CBLAS: transpose. */
export const trans = 112;
const rowMajor = 101;

let library:
  | { lib: Library | null; info: BlasInfo; sgemm: Sgemm; batched: BatchedSgemm | null }
  | null
  | undefined;

/** Which BLAS `PROBSFT_BLAS` allows: `bundled`, `openblas`, or either (OpenBLAS first). */
function blasChoice(): "bundled" | "openblas" | "auto" {
  try {
    const raw = Deno.env.get("PROBSFT_BLAS");
    return raw === "bundled" || raw === "openblas" ? raw : "auto";
  } catch {
    return "auto";
  }
}

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
 * The OpenBLAS kernel family for this CPU from `/proc/cpuinfo`'s flags (`SkylakeX` with
 * AVX-512 F/BW/VL, `Haswell` with AVX2 and FMA), or `undefined` where it cannot tell. Inside
 * Deno, OpenBLAS 0.3.21's own detection falls back to `Prescott` (SSE3) on this machine's CPUs,
 * about 4.5× slower than `SkylakeX` for a 1024³ product (measured 2026-11-30: 62 vs 290 GFLOP/s,
 * 2 threads).
 *
 * @returns The core type name, or `undefined`.
 */
export function coreTypeFromCpuinfo(): string | undefined {
  const flags = cpuFlags();
  if (["avx512f", "avx512bw", "avx512vl"].every((f) => flags.has(f))) return "SkylakeX";
  if (flags.has("avx2") && flags.has("fma")) return "Haswell";
  return undefined;
}

/** Opens the library with `OPENBLAS_CORETYPE` set for its load only, unless the user set it. */
function open(path: string): Library {
  let preset: string | undefined;
  try {
    preset = Deno.env.get("OPENBLAS_CORETYPE");
  } catch {
    return Deno.dlopen(path, symbols);
  }
  const core = preset === undefined ? coreTypeFromCpuinfo() : undefined;
  if (core === undefined) return Deno.dlopen(path, symbols);
  Deno.env.set("OPENBLAS_CORETYPE", core);
  try {
    return Deno.dlopen(path, symbols);
  } finally {
    Deno.env.delete("OPENBLAS_CORETYPE");
  }
}

/**
 * Opens the BLAS once (later calls return the same answer): OpenBLAS from `paths`, else the
 * bundled product (see the module doc for `PROBSFT_BLAS`). Returns `null`, silently, when neither
 * serves or FFI is not permitted. OpenBLAS's threads: `OPENBLAS_NUM_THREADS` when set, otherwise
 * all cores; its kernels: `OPENBLAS_CORETYPE` when set, otherwise {@link coreTypeFromCpuinfo}.
 *
 * @param paths Library files to try, in order; default {@link openBlasPaths}.
 * @returns What was found, or `null`.
 */
export function findBlas(paths: ReadonlyArray<string> = openBlasPaths): BlasInfo | null {
  if (library !== undefined) return library?.info ?? null;
  library = null;
  if (!ffiAllowed()) return null;
  const choice = blasChoice();
  for (const path of choice === "bundled" ? [] : paths) {
    let lib: Library;
    try {
      lib = open(path);
    } catch {
      continue;
    }
    const threads = envThreads() ?? navigator.hardwareConcurrency ?? 1;
    lib.symbols.openblas_set_num_threads(threads);
    const text = (p: Deno.PointerValue) =>
      p === null ? "" : new Deno.UnsafePointerView(p).getCString().trim();
    const config = (text(lib.symbols.openblas_get_config()) || "OpenBLAS") +
      ` (kernels: ${text(lib.symbols.openblas_get_corename()) || "unknown"})`;
    const raw = lib.symbols.cblas_sgemm;
    const sgemm: Sgemm = (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =>
      raw(rowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    library = {
      lib,
      sgemm,
      batched: null,
      info: { path, config: config.trim(), threads: lib.symbols.openblas_get_num_threads() },
    };
    return library.info;
  }
  const native = choice === "openblas" ? null : loadNativeSgemm();
  if (native === null) return null;
  const batched = native.sgemm;
  library = {
    lib: null,
    sgemm: (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =>
      batched(ta === trans, tb === trans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1, 0, 0, 0),
    batched,
    info: { path: "bundled", config: native.description, threads: 1 },
  };
  return library.info;
}

/**
 * The bundled product's batched entry point, when it is the BLAS in use (one FFI call for a batch
 * of strided products, e.g. attention's per-head products).
 *
 * @returns The function, or `null` with OpenBLAS or no BLAS.
 */
export function sgemmBatched(): BatchedSgemm | null {
  findBlas();
  return library?.batched ?? null;
}

/**
 * `cblas_sgemm` of the library {@link findBlas} opened.
 *
 * @returns The function, or `null` when OpenBLAS is not available.
 */
export function sgemm(): Sgemm | null {
  findBlas();
  return library?.sgemm ?? null;
}

/**
 * A one-line description of the library: `"OpenBLAS 0.3.21 … (2 threads)"`.
 *
 * @returns The description, or `null` when no BLAS is available.
 */
export function openBlasDescription(): string | null {
  const info = findBlas();
  return info === null
    ? null
    : `${info.config} (${info.threads} thread${info.threads === 1 ? "" : "s"})`;
}

/**
 * The sizes of a batched matrix product `op(a) · op(b)`: rows `m`, inner `k`, columns `n`.
 *
 * @param aShape Shape of `a` (rank ≥ 2).
 * @param bShape Shape of `b` (rank ≥ 2).
 * @param transposeA `a` is used transposed.
 * @param transposeB `b` is used transposed.
 * @returns `{ m, k, n }`.
 * @throws Error (tfjs's own wording) when the inner sizes differ.
 */
export function matMulSizes(
  aShape: ReadonlyArray<number>,
  bShape: ReadonlyArray<number>,
  transposeA: boolean,
  transposeB: boolean,
): { m: number; k: number; n: number } {
  const ar = aShape.length, br = bShape.length;
  const m = transposeA ? aShape[ar - 1]! : aShape[ar - 2]!;
  const k = transposeA ? aShape[ar - 2]! : aShape[ar - 1]!;
  const kb = transposeB ? bShape[br - 1]! : bShape[br - 2]!;
  const n = transposeB ? bShape[br - 2]! : bShape[br - 1]!;
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ${bShape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  return { m, k, n };
}

/**
 * Runs `f` with OpenBLAS on one thread, then restores its thread count. For runs of small
 * products (a decoding step: a few rows): OpenBLAS splits a product past about 2.6·10⁵
 * multiply-adds over its threads, and waking and joining them costs more than such a product,
 * much more on a busy machine. Without OpenBLAS, just runs `f`.
 *
 * @param f The work.
 * @returns What `f` returns.
 */
export function withOneBlasThread<T>(f: () => T): T {
  findBlas();
  const lib = library?.lib;
  const threads = library?.info.threads ?? 1;
  if (lib === undefined || lib === null || threads <= 1) return f();
  lib.symbols.openblas_set_num_threads(1);
  try {
    return f();
  } finally {
    lib.symbols.openblas_set_num_threads(threads);
  }
}
