/**
 * Test helper: registers one check of a fused kernel on each backend that runs it: wasm with the
 * SIMD loops, wasm with the JavaScript loops (`setSimdRows(false)`), both without BLAS, and
 * cpu-blas (ignored where no BLAS serves it). Each test restores the `cpu` backend after.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import {
  cpuBlasName,
  cpuBlasUnavailable,
  disableBlas,
  enableBlas,
  setSimdRows,
} from "../core/backend/mod.ts";

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
  Deno.test({
    name: `${what} on cpu-blas`,
    ignore: cpuBlasUnavailable() !== null,
    fn: async () => {
      await tf.setBackend(cpuBlasName);
      try {
        await check();
      } finally {
        await tf.setBackend("cpu");
      }
    },
  });
}
