/**
 * The `cpu-blas` tensor backend: tfjs's `cpu` backend (tensors in JavaScript typed arrays, so no
 * 4 GiB wasm heap ceiling) registered under its own name, with every cpu kernel copied and these
 * replaced: `BatchMatMul` through the BLAS's `cblas_sgemm` over Deno's FFI (OpenBLAS, or the
 * bundled product where it is not installed, `openblas.ts`; transposes as BLAS flags, leading axes
 * broadcast, both cores through OpenBLAS's threads) and the faster JavaScript kernels of
 * `cpu_kernels.ts`. `tf.setBackend("cpu-blas")` works once this module is imported; the backend
 * refuses to start, with a message saying why, when no BLAS serves or `--allow-ffi` is missing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { findBlas, matMulSizes, noTrans, sgemm, trans } from "./openblas.ts";
import { cpuValues, isCpuBackend, type KernelArgs, registerKernelFunc } from "./js_kernel.ts";
import { registerCpuKernels } from "./cpu_kernels.ts";

/** The name `cpu-blas` is registered under with tfjs. */
export const cpuBlasName = "cpu-blas";

/** Why `cpu-blas` cannot start here, or `null` when it can. */
export function cpuBlasUnavailable(): string | null {
  if (findBlas() !== null) return null;
  let ffi = false;
  try {
    ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    ffi = false;
  }
  return ffi
    ? "no BLAS: OpenBLAS is not installed (apt-get install libopenblas0-pthread) and the bundled sgemm serves only x86-64 Linux with AVX2 and FMA"
    : "FFI is not permitted (run with --allow-ffi or -A)";
}

type Kernel = (args: KernelArgs) => tf.TensorInfo;

function batchMatMulKernel(fallback: Kernel): Kernel {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const backend = args.backend;
    const gemm = sgemm();
    if (
      gemm === null || !isCpuBackend(backend) || a.dtype !== "float32" ||
      b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2
    ) {
      return fallback(args);
    }
    const av = cpuValues(backend, a), bv = cpuValues(backend, b);
    if (!(av instanceof Float32Array) || !(bv instanceof Float32Array)) return fallback(args);
    const transposeA = Boolean(args.attrs?.transposeA);
    const transposeB = Boolean(args.attrs?.transposeB);
    const { m, k, n } = matMulSizes(a.shape, b.shape, transposeA, transposeB);
    const aLead = a.shape.slice(0, -2), bLead = b.shape.slice(0, -2);
    const lead = tf.broadcast_util.assertAndGetBroadcastShape(aLead, bLead);
    const batch = lead.reduce((x, y) => x * y, 1);
    const out = new Float32Array(batch * m * n);
    const outShape = [...lead, m, n];
    if (out.length === 0 || k === 0) return backend.makeTensorInfo(outShape, "float32", out);
    // Matrix index of each side for every output batch index (broadcast axes repeat).
    const index = (side: ReadonlyArray<number>, i: number): number => {
      let at = 0, stride = 1, rest = i;
      for (let d = lead.length - 1; d >= 0; d--) {
        const size = lead[d]!;
        const pos = rest % size;
        rest = (rest - pos) / size;
        const s = side.length - lead.length + d;
        if (s >= 0) {
          const dim = side[s]!;
          if (dim !== 1) at += pos * stride;
          stride *= dim;
        }
      }
      return at;
    };
    const lda = transposeA ? m : k, ldb = transposeB ? k : n;
    const ta = transposeA ? trans : noTrans, tb = transposeB ? trans : noTrans;
    const aSize = m * k, bSize = k * n, cSize = m * n;
    for (let i = 0; i < batch; i++) {
      const ai = index(aLead, i) * aSize, bi = index(bLead, i) * bSize;
      gemm(
        ta,
        tb,
        m,
        n,
        k,
        1,
        av.subarray(ai, ai + aSize),
        lda,
        bv.subarray(bi, bi + bSize),
        ldb,
        0,
        out.subarray(i * cSize, (i + 1) * cSize),
        n,
      );
    }
    return backend.makeTensorInfo(outShape, "float32", out);
  };
}

let registered = false;

/**
 * Registers `cpu-blas` with tfjs (idempotent): a backend factory that makes a fresh tfjs cpu
 * backend, the cpu kernels copied under the new name, and the BLAS and JavaScript kernels over
 * them. Selecting it (`tf.setBackend`) fails when {@link cpuBlasUnavailable} says why.
 */
export function registerCpuBlas(): void {
  if (registered) return;
  registered = true;
  const cpuFactory = tf.findBackendFactory("cpu");
  if (cpuFactory === null) throw new Error("tfjs has no cpu backend registered");
  tf.registerBackend(cpuBlasName, () => {
    const why = cpuBlasUnavailable();
    if (why !== null) throw new Error(`backend "${cpuBlasName}" cannot start: ${why}`);
    return cpuFactory() as tf.KernelBackend;
  }, 0);
  tf.copyRegisteredKernels("cpu", cpuBlasName);
  const original = tf.getKernel("BatchMatMul", cpuBlasName)!.kernelFunc as unknown as Kernel;
  registerKernelFunc(
    "BatchMatMul",
    cpuBlasName,
    batchMatMulKernel(original) as unknown as tf.KernelFunc,
  );
  registerCpuKernels(cpuBlasName);
}

registerCpuBlas();
