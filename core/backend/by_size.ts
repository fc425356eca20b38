/**
 * The backend for a model's size: the wasm heap is 32-bit (at most 4 GiB, tfjs-backend-wasm 4.22)
 * and a model whose weights, gradients, AdamW moments and per-step activations do not fit in it
 * dies with "memory access out of bounds". {@link backendFor} picks `wasm` while the estimate fits
 * under {@link wasmHeapBudgetBytes} and `cpu-blas` (no ceiling) beyond; {@link useBackendFor}
 * starts the choice and says so in one line when it leaves the default.
 *
 * @module
 */
import { Effect } from "effect";
import { BackendError } from "../errors.ts";
import { cpuBlasName, cpuBlasUnavailable } from "./cpu_blas.ts";
import { defaultBackend, useBackend } from "./select.ts";

/** The wasm heap's ceiling: 4 GiB (32-bit addresses). */
export const wasmHeapBytes: number = 4 * 2 ** 30;

/**
 * What a training step may plan to use of the wasm heap: the ceiling less 1 GiB of headroom for
 * fragmentation (the heap never shrinks, and freed blocks are reused only by allocations that fit
 * them) and the optimizer's temporaries.
 */
export const wasmHeapBudgetBytes: number = wasmHeapBytes - 2 ** 30;

/** Bytes per parameter a training step keeps: fp32 weights, gradients and AdamW's m and v. */
export const trainingBytesPerParam = 16;

/** A backend picked for a size. */
export interface BackendChoice {
  /** The backend to use, or `null` when none can hold the model here. */
  readonly backend: string | null;
  /** The estimate, bytes: {@link trainingBytesPerParam} · params + the step's activations. */
  readonly bytes: number;
  /** Why, in one line (for a log or an error). */
  readonly reason: string;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * Picks the backend for a training run of a given size: `wasm` (the default, faster on small
 * models) when weights, gradients, optimizer state and activations fit in the wasm heap, else
 * `cpu-blas` when a BLAS (OpenBLAS or the bundled sgemm) and FFI are available, else none.
 *
 * @param paramCount Trainable parameters.
 * @param bytesPerStep Peak bytes of one (micro-)batch's activations and temporaries, forward and
 *   backward (the caller's estimate for its model).
 * @param cpuBlasMissing Why cpu-blas cannot start (default: asked of this machine), or `null`.
 * @returns The choice with its one-line reason.
 */
export function backendFor(
  paramCount: number,
  bytesPerStep: number,
  cpuBlasMissing: string | null = cpuBlasUnavailable(),
): BackendChoice {
  const bytes = trainingBytesPerParam * paramCount + bytesPerStep;
  const need = `${(paramCount / 1e6).toFixed(1)}M parameters with their gradients, AdamW state ` +
    `and activations need about ${gib(bytes)}`;
  if (bytes <= wasmHeapBudgetBytes) {
    return {
      backend: defaultBackend,
      bytes,
      reason: `${need}; the wasm heap holds ${gib(wasmHeapBudgetBytes)}`,
    };
  }
  if (cpuBlasMissing === null) {
    return {
      backend: cpuBlasName,
      bytes,
      reason: `${need}, more than the wasm heap's ${
        gib(wasmHeapBudgetBytes)
      }: using ${cpuBlasName}`,
    };
  }
  return {
    backend: null,
    bytes,
    reason: `${need}, more than the wasm heap's ${
      gib(wasmHeapBudgetBytes)
    }, and ${cpuBlasName} cannot start (${cpuBlasMissing})`,
  };
}

/**
 * Starts the backend {@link backendFor} picks, writing one line to `log` when it is not the
 * default; fails with one {@link BackendError} line when nothing can hold the model.
 *
 * @param paramCount Trainable parameters.
 * @param bytesPerStep Peak bytes of one (micro-)batch's activations (see {@link backendFor}).
 * @param log Where the line goes (default stderr).
 * @returns The backend started.
 */
export function useBackendFor(
  paramCount: number,
  bytesPerStep: number,
  log: (line: string) => void = (line) => console.error(line),
): Effect.Effect<string, BackendError> {
  return Effect.gen(function* () {
    const choice = backendFor(paramCount, bytesPerStep);
    if (choice.backend === null) {
      return yield* Effect.fail(
        new BackendError({ message: choice.reason, backend: defaultBackend }),
      );
    }
    if (choice.backend !== defaultBackend) log(`probsft: ${choice.reason}`);
    yield* useBackend(choice.backend);
    return choice.backend;
  });
}
