/**
 * The `cpu-blas` tensor backend: tfjs's `cpu` backend (tensors in JavaScript typed arrays, so no
 * 4 GiB wasm heap ceiling) registered under its own name, with every cpu kernel copied and these
 * replaced: `BatchMatMul` through the BLAS's `cblas_sgemm` over Deno's FFI (OpenBLAS, or the
 * bundled product where it is not installed, `openblas.ts`; transposes as BLAS flags, leading axes
 * broadcast, both cores through OpenBLAS's threads), `_FusedMatMul` without an activation the
 * same way with its bias as the output's starting rows, and the faster JavaScript kernels of
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

/**
 * `op(a)·op(b)` (leading axes broadcast) through the BLAS, into a new array; with `bias` (`n`
 * floats) every output row starts as the bias and the product is added to it (`beta = 1`), so a
 * dense layer's bias costs no second pass and no second array.
 *
 * @returns The output, or `null` when the BLAS cannot serve these operands (the caller falls back).
 */
function blasProduct(
  args: KernelArgs,
  transposeA: boolean,
  transposeB: boolean,
  bias?: Float32Array,
): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const backend = args.backend;
  const gemm = sgemm();
  if (
    gemm === null || !isCpuBackend(backend) || a.dtype !== "float32" ||
    b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2
  ) {
    return null;
  }
  const av = cpuValues(backend, a), bv = cpuValues(backend, b);
  if (!(av instanceof Float32Array) || !(bv instanceof Float32Array)) return null;
  const { m, k, n } = matMulSizes(a.shape, b.shape, transposeA, transposeB);
  if (bias !== undefined && bias.length !== n) return null;
  const aLead = a.shape.slice(0, -2), bLead = b.shape.slice(0, -2);
  const lead = tf.broadcast_util.assertAndGetBroadcastShape(aLead, bLead);
  const batch = lead.reduce((x, y) => x * y, 1);
  const out = new Float32Array(batch * m * n);
  const outShape = [...lead, m, n];
  if (bias !== undefined) {
    for (let row = 0; row < batch * m; row++) out.set(bias, row * n);
  }
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
      bias === undefined ? 0 : 1,
      out.subarray(i * cSize, (i + 1) * cSize),
      n,
    );
  }
  return backend.makeTensorInfo(outShape, "float32", out);
}

function batchMatMulKernel(fallback: Kernel): Kernel {
  return (args) =>
    blasProduct(args, Boolean(args.attrs?.transposeA), Boolean(args.attrs?.transposeB)) ??
      fallback(args);
}

/**
 * tfjs's `_FusedMatMul` (`tf.fused.matMul`) without an activation: the bias (float32, `n`
 * values, any leading 1s) as the product's starting rows ({@link blasProduct}); anything else
 * (an activation, another bias shape) runs the kernel it replaces.
 */
function fusedMatMulKernel(fallback: Kernel): Kernel {
  return (args) => {
    const { bias, preluActivationWeights } = args.inputs as {
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const activation = args.attrs?.activation ?? "linear";
    if (activation !== "linear" || preluActivationWeights !== undefined) return fallback(args);
    let values: Float32Array | undefined;
    if (bias !== undefined) {
      const backend = args.backend;
      const v = isCpuBackend(backend) && bias.dtype === "float32"
        ? cpuValues(backend, bias)
        : undefined;
      if (!(v instanceof Float32Array) || bias.shape.slice(0, -1).some((d) => d !== 1)) {
        return fallback(args);
      }
      values = v;
    }
    return blasProduct(
      args,
      Boolean(args.attrs?.transposeA),
      Boolean(args.attrs?.transposeB),
      values,
    ) ?? fallback(args);
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
  const original = (name: string) =>
    tf.getKernel(name, cpuBlasName)!.kernelFunc as unknown as Kernel;
  registerKernelFunc(
    "BatchMatMul",
    cpuBlasName,
    batchMatMulKernel(original("BatchMatMul")) as unknown as tf.KernelFunc,
  );
  registerKernelFunc(
    "_FusedMatMul",
    cpuBlasName,
    fusedMatMulKernel(original("_FusedMatMul")) as unknown as tf.KernelFunc,
  );
  registerCpuKernels(cpuBlasName);
}

registerCpuBlas();
