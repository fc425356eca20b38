// probsft's bundled matrix product (core/backend/native/sgemm.c through native_sgemm.ts), the
// stand-in for OpenBLAS on x86-64 Linux: every transpose, odd sizes past each blocking size
// (6-row and 16-column tiles, 96-row and 256-deep blocks), batches with broadcast strides, alpha
// and beta, beta = 0 over NaN garbage, k = 0, against a float64 product written out here; then
// the BLAS test file and a training command run with PROBSFT_BLAS=bundled as subprocesses.
import "../_setup.ts";
import assert from "node:assert/strict";
import { loadNativeSgemm } from "../../core/backend/native_sgemm.ts";

const native = loadNativeSgemm();
const why = "the bundled sgemm serves x86-64 Linux with AVX2 and FMA only: checks skipped";

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 1.3 + i * 0.731) * 1.7;
  return out;
}

/** float64 `alpha·op(A_i)·op(B_i) + beta·C_i`, the layout of the native call. */
function reference(
  ta: boolean,
  tb: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  b: Float32Array,
  beta: number,
  c: Float32Array,
  batch: number,
  sa: number,
  sb: number,
): Float64Array {
  const lda = ta ? m : k, ldb = tb ? k : n;
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const x = ta ? a[t * sa + p * lda + i]! : a[t * sa + i * lda + p]!;
          const y = tb ? b[t * sb + j * ldb + p]! : b[t * sb + p * ldb + j]!;
          s += x * y;
        }
        const at = t * m * n + i * n + j;
        out[at] = alpha * s + (beta === 0 ? 0 : beta * c[at]!);
      }
    }
  }
  return out;
}

Deno.test("native sgemm: matches a float64 product (transposes, odd sizes past every block, batches, alpha, beta)", () => {
  if (native === null) {
    console.log(why);
    return;
  }
  // [m, n, k, batch, broadcast A, broadcast B, alpha, beta]
  const cases: Array<[number, number, number, number, boolean, boolean, number, number]> = [
    [1, 1, 1, 1, false, false, 1, 0],
    [7, 17, 5, 1, false, false, 1, 0],
    [6, 16, 256, 1, false, false, 1, 0],
    [97, 33, 257, 1, false, false, 1, 0],
    [13, 4100, 3, 1, false, false, 1, 0],
    [64, 16, 64, 5, false, false, 1, 0],
    [19, 23, 31, 4, true, false, 0.5, 0],
    [19, 23, 31, 4, false, true, 1, 0.75],
    [200, 9, 40, 2, false, false, -2, 1],
  ];
  for (const [m, n, k, batch, bcastA, bcastB, alpha, beta] of cases) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const sa = bcastA ? 0 : m * k, sb = bcastB ? 0 : k * n;
        const a = values(m * k * (bcastA ? 1 : batch), m + k);
        const b = values(k * n * (bcastB ? 1 : batch), n + 3 * k);
        const c0 = values(m * n * batch, 7);
        // beta = 0 must not read C: start from NaN (uninitialised heap memory).
        const c = beta === 0 ? new Float32Array(m * n * batch).fill(NaN) : c0.slice();
        native.sgemm(
          ta,
          tb,
          m,
          n,
          k,
          alpha,
          a,
          ta ? m : k,
          b,
          tb ? k : n,
          beta,
          c,
          n,
          batch,
          sa,
          sb,
          m * n,
        );
        const want = reference(ta, tb, m, n, k, alpha, a, b, beta, c0, batch, sa, sb);
        for (let i = 0; i < want.length; i++) {
          const tol = 1e-5 * Math.max(1, Math.sqrt(k)) * Math.max(1, Math.abs(want[i]!));
          assert.ok(
            Math.abs(c[i]! - want[i]!) <= tol,
            `m ${m} n ${n} k ${k} batch ${batch} ta ${ta} tb ${tb} α ${alpha} β ${beta} [${i}]: ${
              c[i]
            } vs ${want[i]}`,
          );
        }
      }
    }
  }
});

Deno.test("native sgemm: k = 0 gives beta·C (0 over NaN when beta = 0); m or n = 0 writes nothing", () => {
  if (native === null) {
    console.log(why);
    return;
  }
  const c = new Float32Array(6).fill(NaN);
  native.sgemm(
    false,
    false,
    2,
    3,
    0,
    1,
    new Float32Array(1),
    1,
    new Float32Array(1),
    3,
    0,
    c,
    3,
    1,
    0,
    0,
    6,
  );
  assert.deepEqual(Array.from(c), [0, 0, 0, 0, 0, 0]);
  const d = Float32Array.from([1, 2, 3, 4, 5, 6]);
  native.sgemm(
    false,
    false,
    2,
    3,
    0,
    1,
    new Float32Array(1),
    1,
    new Float32Array(1),
    3,
    2,
    d,
    3,
    1,
    0,
    0,
    6,
  );
  assert.deepEqual(Array.from(d), [2, 4, 6, 8, 10, 12]);
  const e = Float32Array.from([9]);
  native.sgemm(
    false,
    false,
    0,
    3,
    4,
    1,
    new Float32Array(12),
    4,
    new Float32Array(12),
    3,
    0,
    e,
    3,
    1,
    0,
    0,
    0,
  );
  assert.deepEqual(Array.from(e), [9]);
});

Deno.test("native sgemm: the BLAS checks pass with PROBSFT_BLAS=bundled (subprocess)", async () => {
  if (native === null) {
    console.log(why);
    return;
  }
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", new URL("./blas_test.ts", import.meta.url).pathname],
    env: { PROBSFT_BLAS: "bundled", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, out);
  assert.match(out, /BLAS in use: probsft sgemm \(bundled/);
  assert.ok(!out.includes("checks skipped"), out);
});
