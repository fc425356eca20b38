/**
 * `PROBSFT_BLAS=0 deno run -A bench/simd_matmul.ts [--rounds N]`: GFLOP/s of the wasm backend's
 * `BatchMatMul` on the default preset's and the bench reference's shapes, three kernels
 * alternating in one process (median over rounds): tfjs wasm's own (XNNPACK), the SIMD kernel
 * (`core/backend/wasm_simd.ts`) and OpenBLAS (`wasm_blas.ts`, when installed).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "../core/backend/mod.ts";
import { disableBlas, enableBlas } from "../core/backend/wasm_blas.ts";
import { disableSimd, enableSimd } from "../core/backend/wasm_simd.ts";

const rounds = Number(Deno.args[Deno.args.indexOf("--rounds") + 1] ?? 7) || 7;
/** [label, a shape, b shape, transposeA, transposeB] */
const shapes: Array<[string, number[], number[], boolean, boolean]> = [
  ["default dense x·W", [2048, 64], [64, 256], false, false],
  ["default dense dX = dY·Wᵀ", [2048, 256], [64, 256], false, true],
  ["default dense dW = Xᵀ·dY", [2048, 64], [2048, 256], true, false],
  ["default attention Q·Kᵀ", [32, 4, 64, 16], [32, 4, 64, 16], false, true],
  ["default attention P·V", [32, 4, 64, 64], [32, 4, 64, 16], false, false],
  ["default attention dP·… Pᵀ·dO", [32, 4, 64, 64], [32, 4, 64, 16], true, false],
  ["reference dense x·W", [1024, 128], [128, 512], false, false],
  ["reference dense dX = dY·Wᵀ", [1024, 512], [128, 512], false, true],
  ["reference dense dW = Xᵀ·dY", [1024, 128], [1024, 512], true, false],
  ["reference head x·Eᵀ", [1024, 128], [512, 128], false, true],
  ["reference attention Q·Kᵀ", [16, 4, 64, 32], [16, 4, 64, 32], false, true],
];
const kernels: Array<[string, () => boolean]> = [
  ["tfjs wasm", () => {
    disableBlas();
    disableSimd();
    return true;
  }],
  ["simd", () => {
    disableBlas();
    return enableSimd();
  }],
  ["openblas", () => {
    disableSimd();
    return enableBlas() !== null;
  }],
];
for (const [label, sa, sb, ta, tb] of shapes) {
  const a = tf.randomNormal(sa), b = tf.randomNormal(sb);
  const m = ta ? sa.at(-1)! : sa.at(-2)!, k = ta ? sa.at(-2)! : sa.at(-1)!;
  const n = tb ? sb.at(-2)! : sb.at(-1)!;
  const batch = sa.slice(0, -2).reduce((x, y) => x * y, 1);
  const flops = 2 * batch * m * n * k;
  const times = new Map<string, number[]>();
  for (let r = 0; r < rounds + 1; r++) {
    for (const [name, use] of kernels) {
      if (!use()) continue;
      const reps = Math.max(1, Math.round(2e8 / flops));
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) tf.matMul(a, b, ta, tb).dispose();
      const ms = (performance.now() - t0) / reps;
      if (r > 0) times.set(name, [...(times.get(name) ?? []), ms]);
    }
  }
  const cells = [...times].map(([name, ts]) => {
    ts.sort((x, y) => x - y);
    const med = ts[ts.length >> 1]!;
    return `${name} ${(flops / med / 1e6).toFixed(1)} GFLOP/s (${med.toFixed(2)} ms)`;
  });
  console.log(
    `${label} ${JSON.stringify(sa)}×${JSON.stringify(sb)} ${ta ? "Aᵀ" : ""}${tb ? "Bᵀ" : ""}: ${
      cells.join(", ")
    }`,
  );
  tf.dispose([a, b]);
}
