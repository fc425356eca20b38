/**
 * Test helper: registers one check of a fused kernel on each backend that runs it: wasm with the
 * SIMD loops, wasm with the JavaScript loops (`setSimdRows(false)`), both without BLAS, and
 * cpu-blas with the native library's loops and with the JavaScript loops (ignored where no BLAS
 * serves it, or the library cannot open). Each test restores the `cpu` backend after.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import "@tensorflow/tfjs-backend-wasm";
import {
  cpuBlasName,
  cpuBlasUnavailable,
  disableBlas,
  enableBlas,
  setSimdRows,
} from "../core/backend/mod.ts";
import { nativeLibrary } from "../core/backend/native_sgemm.ts";
import { nativeRowKernels } from "../core/backend/native_rows.ts";

/**
 * @param what The test names' subject, e.g. `"targetLogProb: fused"`.
 * @param check Runs on the active backend and asserts.
 */
export function onFusedBackends(what: string, check: () => Promise<void>): void {
  for (const simd of [true, false]) {
    Deno.test(`${what} on wasm (${simd ? "SIMD" : "JavaScript"} loops)`, async () => {
      await tf.setBackend("wasm");
      disableBlas();
      setSimdRows(simd);
      try {
        await check();
      } finally {
        setSimdRows(true);
        enableBlas();
        await tf.setBackend("cpu");
      }
    });
  }
  for (const native of [true, false]) {
    Deno.test({
      name: `${what} on cpu-blas (${native ? "native" : "JavaScript"} loops)`,
      ignore: cpuBlasUnavailable() !== null || (native && nativeLibrary() === null),
      fn: async () => {
        await tf.setBackend(cpuBlasName);
        setSimdRows(native);
        try {
          if (native) assert.ok(nativeRowKernels() !== null, "the native row kernels serve");
          await check();
        } finally {
          setSimdRows(true);
          await tf.setBackend("cpu");
        }
      },
    });
  }
}
