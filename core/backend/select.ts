/**
 * Tensor backends, chosen by name in one place: `wasm` (SIMD, with OpenBLAS matrix products when
 * installed; the default), `cpu-blas` (tfjs's cpu backend with OpenBLAS and faster JavaScript
 * kernels: no 4 GiB heap ceiling, for large models), `cpu` (the pure JavaScript reference),
 * `webgpu` (Deno's navigator.gpu) and `tensorflow` (tfjs-node-gpu, where a user has it
 * installed). A backend that cannot start fails with a message that says what is missing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { Effect } from "effect";
import { BackendError } from "../errors.ts";
import { enableBlas } from "./wasm_blas.ts";
import { enableSimd } from "./wasm_simd.ts";
import { cpuBlasName, cpuBlasUnavailable } from "./cpu_blas.ts";

/** The backends probsft knows by name. */
export const backendNames: ReadonlyArray<string> = [
  "wasm",
  cpuBlasName,
  "cpu",
  "webgpu",
  "tensorflow",
];

/** The default backend. */
export const defaultBackend = "wasm";

// Optional packages are imported by a computed specifier so that type checking and the lock file
// do not require them.
async function importOptional(specifier: string): Promise<unknown> {
  return await import(specifier);
}

/**
 * Starts a backend by name, with no checks of the name (see {@link useBackend}).
 *
 * @param name A tfjs backend name.
 * @throws Error saying what is missing when it cannot start.
 */
export async function startBackend(name: string): Promise<void> {
  if (name === "webgpu") {
    const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } })?.gpu;
    if (gpu === undefined) {
      throw new Error("navigator.gpu is not available in this runtime (Deno 2.9 exposes it)");
    }
    if ((await gpu.requestAdapter()) === null) {
      throw new Error("navigator.gpu found no adapter (no GPU driver or Vulkan ICD installed)");
    }
    await importOptional("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
  } else if (name === "tensorflow") {
    try {
      await importOptional("npm:@tensorflow/tfjs-node-gpu@4.22.0");
    } catch (error) {
      throw new Error(
        `npm:@tensorflow/tfjs-node-gpu@4.22.0 could not be loaded (${
          String((error as Error).message ?? error).split("\n")[0]
        }); install it where libtensorflow can be downloaded`,
      );
    }
  } else if (name === cpuBlasName) {
    const why = cpuBlasUnavailable();
    if (why !== null) throw new Error(why);
  }
  // Production mode: skips per-op debug checks and the "install tfjs-node" banner.
  tf.enableProdMode();
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs could not initialise backend "${name}"`);
  await tf.ready();
  // wasm: matrix products through our wasm SIMD kernel (wasm_simd.ts; PROBSFT_SIMD=0 keeps tfjs
  // wasm's own), and over it through OpenBLAS when that is installed (wasm_blas.ts; PROBSFT_BLAS=0
  // keeps the SIMD kernel, or tfjs wasm's own with PROBSFT_SIMD=0 too).
  if (name === "wasm" && (Deno.env.get("PROBSFT_SIMD") ?? "1") !== "0") enableSimd();
  if (name === "wasm" && (Deno.env.get("PROBSFT_BLAS") ?? "1") !== "0") enableBlas();
}

/**
 * Selects and starts a tensor backend.
 *
 * @param name One of {@link backendNames}.
 * @returns Nothing, once the backend is ready; a {@link BackendError} naming the backend and what
 *   is missing when it is unknown or cannot start.
 */
export function useBackend(name: string): Effect.Effect<void, BackendError> {
  if (!backendNames.includes(name)) {
    return Effect.fail(
      new BackendError({
        message: `Unknown backend ${JSON.stringify(name)}; known backends: ${
          backendNames.join(", ")
        }`,
        backend: name,
      }),
    );
  }
  return Effect.tryPromise({
    try: async () => {
      if (tf.getBackend() !== name || tf.engine().backendName !== name) await startBackend(name);
    },
    catch: (error) =>
      new BackendError({
        message: `Cannot start backend "${name}": ${(error as Error).message ?? String(error)}`,
        backend: name,
      }),
  });
}

/**
 * Starts the default backend ({@link defaultBackend}, with OpenBLAS when present) unless a backend
 * is already selected; if it cannot start (e.g. without read permission for its `.wasm` file) the
 * `cpu` reference backend is used instead and one line on stderr says why. Importing this module
 * (and so `mod.ts`) runs it, so the library works with no set-up call; {@link useBackend} picks
 * another backend at any time.
 *
 * @returns The name of the active backend.
 */
export async function ensureBackend(): Promise<string> {
  const engine = tf.engine();
  if (engine.backendName) return engine.backendName;
  if (Deno.permissions.querySync({ name: "read" }).state !== "granted") {
    console.error(
      `probsft: no read permission for the ${defaultBackend} backend's .wasm file; using "cpu" (run with --allow-read for the faster backend)`,
    );
    await startBackend("cpu");
    return engine.backendName;
  }
  try {
    await startBackend(defaultBackend);
  } catch (error) {
    console.error(
      `probsft: backend "${defaultBackend}" could not start (${
        String((error as Error).message ?? error).split("\n")[0]
      }); using "cpu"`,
    );
    await startBackend("cpu");
  }
  return engine.backendName;
}

await ensureBackend();

/**
 * The tfjs memory counters, for leak checks.
 *
 * @returns The number of live tensors.
 */
export function liveTensors(): number {
  return tf.memory().numTensors;
}
