import "../_setup.ts";
import { attentionAndGrads } from "../_attention.ts";
import { smallSize, twoSteps } from "../_two_steps.ts";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import assert from "node:assert/strict";
import {
  blasActive,
  disableBlas,
  disableSimd,
  enableBlas,
  enableSimd,
  setFastPaths,
  simdActive,
} from "../../core/backend/mod.ts";
import { setSimdRows, simdGemm, simdRowKernels } from "../../core/backend/wasm_simd.ts";
import { gelu, geluTanh, layerNorm, linear } from "../../backbones/ops.ts";
import { tinyConfig, Transformer } from "../../backbones/transformer.ts";
import { AdamW } from "../../core/optimizer.ts";
import { isWasmBackend } from "../../core/backend/js_kernel.ts";
import { sgemmWasmBase64 } from "../../core/backend/simd/sgemm_wasm.ts";
import type { Objective } from "../../core/plugin.ts";
import { negLogProb } from "../../objectives/neg_log_prob.ts";
import { negProb } from "../../objectives/neg_prob.ts";
import {
  benchTokenizer,
  makeTrainer,
  randomBatch,
  type Trainer,
  trainStep,
} from "../../bench/workload.ts";

/** Largest |a − b| / max(1, |b|). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  }
  return worst;
}

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 1.7 + i * 0.37) * 1.3;
  return out;
}

/** Runs on plain wasm with the SIMD kernel (no OpenBLAS), restoring the start-up state after. */
async function onSimd<T>(f: () => T): Promise<T> {
  await tf.setBackend("wasm");
  disableBlas();
  enableSimd();
  try {
    assert.ok(simdActive() && !blasActive(), "the SIMD kernel serves wasm");
    return f();
  } finally {
    enableBlas();
    await tf.setBackend("cpu");
  }
}

Deno.test("simd: matMul matches the cpu backend to 1e-4 (every transpose, odd sizes, batches, broadcast, deep sums)", async () => {
  const cases: Array<[number[], number[]]> = [];
  for (
    const [m, k, n] of [[1, 1, 1], [3, 17, 65], [65, 3, 17], [17, 65, 3], [64, 16, 64], [5, 300, 9]]
  ) {
    cases.push([[m!, k!], [k!, n!]]);
  }
  const batched: Array<[number[], number[]]> = [
    [[3, 5, 8, 16], [3, 5, 16, 8]],
    [[4, 17, 3], [3, 65]],
    [[17, 3], [4, 3, 65]],
    [[1, 8, 16], [4, 16, 6]],
    [[0, 7], [7, 3]],
    [[2, 4, 0], [2, 0, 5]],
  ];
  const all: Array<[number[], number[], boolean, boolean]> = [];
  for (const [sa, sb] of [...cases, ...batched]) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const a = [...sa], b = [...sb];
        if (ta) a.splice(-2, 2, a.at(-1)!, a.at(-2)!);
        if (tb) b.splice(-2, 2, b.at(-1)!, b.at(-2)!);
        all.push([a, b, ta, tb]);
      }
    }
  }
  const run = () =>
    all.map(([sa, sb, ta, tb]) =>
      tf.tidy(() => {
        const a = tf.tensor(values(sa.reduce((x, y) => x * y, 1), 1), sa);
        const b = tf.tensor(values(sb.reduce((x, y) => x * y, 1), 2), sb);
        const y = tf.matMul(a, b, ta, tb);
        return { shape: y.shape, data: y.dataSync() };
      })
    );
  const reference = run();
  const fast = await onSimd(run);
  reference.forEach((r, i) => {
    const what = `case ${JSON.stringify(all[i])}`;
    assert.deepEqual(fast[i]!.shape, r.shape, `${what} shape`);
    const d = relDiff(fast[i]!.data, r.data);
    assert.ok(d < 1e-4, `${what}: relative |Δ| ${d}`);
  });
});

Deno.test("simd: simdGemm honours row strides, batch strides and accumulation", async () => {
  await onSimd(() => {
    // A = [2 batches of 3×5 inside rows of 7], B = one 5×4 (broadcast), C rows of 6, += C.
    const m = 3, k = 5, n = 4, lda = 7, ldb = 4, ldc = 6, batch = 2;
    const a = tf.tensor1d(values(batch * m * lda, 1));
    const b = tf.tensor1d(values(k * ldb, 2));
    const c = tf.tensor1d(values(batch * m * ldc, 3));
    const av = a.dataSync(), bv = b.dataSync(), c0 = c.dataSync().slice();
    const backend = tf.backend();
    assert.ok(isWasmBackend(backend));
    const at = (t: tf.Tensor) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    assert.ok(simdGemm(backend, {
      transA: false,
      transB: false,
      m,
      n,
      k,
      a: at(a),
      lda,
      b: at(b),
      ldb,
      c: at(c),
      ldc,
      accumulate: true,
      batch,
      strideA: m * lda,
      strideB: 0,
      strideC: m * ldc,
    }));
    const got = c.dataSync();
    for (let s = 0; s < batch; s++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < ldc; j++) {
          const at2 = s * m * ldc + i * ldc + j;
          let want = c0[at2]!;
          if (j < n) {
            for (let q = 0; q < k; q++) want += av[s * m * lda + i * lda + q]! * bv[q * ldb + j]!;
          }
          assert.ok(Math.abs(got[at2]! - want) < 1e-4, `batch ${s} C[${i}, ${j}]`);
        }
      }
    }
    tf.dispose([a, b, c]);
  });
});

const size = smallSize;

function twoStepsHere() {
  return twoSteps(makeTrainer(3, size), size);
}

Deno.test("simd: two training steps equal tfjs wasm's own products and the cpu backend to 1e-4; tensor count flat", async () => {
  const reference = twoStepsHere();
  await tf.setBackend("wasm");
  disableBlas();
  disableSimd();
  setFastPaths(true);
  let plain;
  try {
    plain = twoStepsHere();
  } finally {
    enableSimd();
    enableBlas();
  }
  const fast = await onSimd(() => {
    const out = twoStepsHere();
    const trainer = makeTrainer(0, size);
    const batch = randomBatch(1, size);
    try {
      for (let i = 0; i < 3; i++) trainStep(trainer, negLogProb as Objective<unknown>, batch);
      const tensors = tf.memory().numTensors;
      for (let i = 0; i < 10; i++) {
        trainStep(trainer, (i % 2 ? negProb : negLogProb) as Objective<unknown>, batch);
      }
      assert.equal(tf.memory().numTensors, tensors, "tensor count after 10 steps");
    } finally {
      trainer.dispose();
    }
    return out;
  });
  for (const [name, other] of [["cpu", reference], ["plain wasm", plain]] as const) {
    other.losses.forEach((x, i) =>
      assert.ok(Math.abs(fast.losses[i]! - x) < 1e-4, `${name} loss/norm ${i}`)
    );
    other.weights.forEach((w, i) => {
      const d = relDiff(fast.weights[i]!, w);
      assert.ok(d < 1e-4, `${name} weight ${i} after two steps: relative |Δ| ${d}`);
    });
  }
});

Deno.test("simd rows: the polynomial exp is within 2e-7 relative of Math.exp on [−87.3, 88.3]", async () => {
  await onSimd(() => {
    const rows = simdRowKernels();
    assert.ok(rows !== null, "the row kernels serve wasm");
    const n = 200_003;
    const xs = new Float32Array(n);
    for (let i = 0; i < n; i++) xs[i] = -87.3 + (175.6 * i) / (n - 1);
    // Dense near 0 as well (softmax differences, −x²/2 of GELU).
    for (let i = 0; i < 20_000; i++) xs[i] = -10 + i / 1000;
    const x = tf.tensor1d(xs);
    const y = tf.zerosLike(x);
    const backend = tf.backend();
    assert.ok(isWasmBackend(backend));
    const at = (t: tf.Tensor) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    rows.expArray(at(x), at(y), n);
    const ys = y.dataSync();
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const want = Math.exp(xs[i]!);
      worst = Math.max(worst, Math.abs(ys[i]! - want) / want);
    }
    assert.ok(worst <= 2e-7, `max relative error ${worst}`);
    console.log(`exp: max relative error ${worst.toExponential(2)} on [−87.3, 88.3]`);
    // Below the range: 0, as float32 exp underflows.
    const low = tf.tensor1d([-88, -100, -1e4]);
    rows.expArray(at(low), at(low), 3);
    assert.deepEqual([...low.dataSync()], [0, 0, 0]);
    tf.dispose([x, y, low]);
  });
});

Deno.test("simd rows: the causal softmax, both GELUs, LayerNorm and column-sum kernels match the cpu backend to 1e-4 (values and gradients, odd sizes)", async () => {
  const cases = [
    { batch: 2, time: 7, heads: 2, kvHeads: 2, headDim: 8 },
    { batch: 3, time: 12, heads: 4, kvHeads: 2, headDim: 6 },
    { batch: 1, time: 13, heads: 3, kvHeads: 1, headDim: 5 },
    { batch: 2, time: 1, heads: 2, kvHeads: 2, headDim: 4 },
  ];
  const run = () => [
    ...cases.map((c) => attentionAndGrads(c, values, 3)),
    ...[1, 4, 1031].map((n) =>
      tf.tidy(() => {
        const x = tf.tensor1d(values(n, 4).map((v) => 4 * v));
        const w = tf.tensor1d(values(n, 5));
        const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(gelu(a), w)))(x);
        const gt = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(geluTanh(a), w)))(x);
        return [gelu(x), g, geluTanh(x), gt].map((t) => t.dataSync() as Float32Array);
      })
    ),
    ...[[5, 64], [7, 13], [3, 1]].map(([rows, d]) =>
      tf.tidy(() => {
        const x = tf.tensor2d(values(rows! * d!, 6).map((v) => 5 * v + 2), [rows!, d!]);
        const w = tf.tensor1d(values(d!, 7)), b = tf.tensor1d(values(d!, 8));
        const m = tf.tensor2d(values(d! * 3, 10), [d!, 3]), c = tf.tensor1d(values(3, 11));
        const r = tf.tensor2d(values(rows! * 3, 12), [rows!, 3]);
        const f = (a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, cc: tf.Tensor) =>
          tf.sum(tf.mul(linear(layerNorm(a, ww, bb, 1e-5), m, cc), r));
        const grads = tf.grads(f)([x, w, b, c]);
        return [layerNorm(x, w, b, 1e-5), ...grads].map((t) => t.dataSync() as Float32Array);
      })
    ),
  ];
  setFastPaths(true);
  await tf.setBackend("cpu");
  const reference = run();
  const fast = await onSimd(() => {
    assert.ok(simdRowKernels() !== null, "the row kernels serve wasm");
    return run();
  });
  reference.forEach((outs, c) =>
    outs.forEach((r, i) => {
      const d = relDiff(fast[c]![i]!, r);
      assert.ok(d < 1e-4, `case ${c} output ${i}: relative |Δ| ${d}`);
    })
  );
});

/** A trainer for the default preset's model shape (exact GELU), small. */
function geluTrainer(): Trainer {
  const model = new Transformer(
    tinyConfig("gpt2", 40, { dModel: 32, nHeads: 4, dMlp: 64, contextLength: 32 }),
    { tokenizer: { ...benchTokenizer, vocabSize: 40 }, seed: 3 },
  );
  const optimizer = new AdamW(model.variables, { weightDecay: 0.01, clipNorm: 1 });
  return {
    model,
    optimizer,
    dispose: () => {
      optimizer.dispose();
      model.dispose();
    },
  };
}

const geluSize = { ...size, vocabSize: 40, batch: 4, time: 13 };

function twoGeluSteps() {
  const trainer = geluTrainer();
  assert.equal(trainer.model.config.activation, "gelu", "the exact GELU");
  return twoSteps(trainer, geluSize);
}

Deno.test("simd rows: two exact-GELU training steps equal the JavaScript/tfjs paths and the cpu backend to 1e-4; tensor count flat", async () => {
  setFastPaths(true);
  await tf.setBackend("cpu");
  const reference = twoGeluSteps();
  const plain = await onSimd(() => {
    setSimdRows(false);
    try {
      assert.equal(simdRowKernels(), null);
      return twoGeluSteps();
    } finally {
      setSimdRows(true);
    }
  });
  const fast = await onSimd(() => {
    assert.ok(simdRowKernels() !== null);
    const out = twoGeluSteps();
    const trainer = geluTrainer();
    const batch = randomBatch(1, geluSize);
    try {
      for (let i = 0; i < 3; i++) trainStep(trainer, negLogProb as Objective<unknown>, batch);
      const tensors = tf.memory().numTensors;
      for (let i = 0; i < 6; i++) trainStep(trainer, negLogProb as Objective<unknown>, batch);
      assert.equal(tf.memory().numTensors, tensors, "tensor count after 6 steps");
    } finally {
      trainer.dispose();
    }
    return out;
  });
  for (const [name, other] of [["cpu", reference], ["rows off", plain]] as const) {
    other.losses.forEach((x, i) =>
      assert.ok(Math.abs(fast.losses[i]! - x) < 1e-4, `${name} loss/norm ${i}`)
    );
    other.weights.forEach((w, i) => {
      const d = relDiff(fast.weights[i]!, w);
      assert.ok(d < 1e-4, `${name} weight ${i} after two steps: relative |Δ| ${d}`);
    });
  }
});

/** Ids of the sections of a wasm binary. */
function sectionIds(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let at = 8;
  while (at < bytes.length) {
    ids.push(bytes[at]!);
    at++;
    let size = 0, shift = 0, byte;
    do {
      byte = bytes[at++]!;
      size |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    at += size;
  }
  return ids;
}

Deno.test("simd: the committed wasm module imports only tfjs's memory, has no data; both compiled modules equal a fresh build", async () => {
  const bytes = Uint8Array.from(atob(sgemmWasmBase64), (c) => c.charCodeAt(0));
  const module = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.imports(module), [
    { module: "env", name: "memory", kind: "memory" },
  ]);
  // Section 11 is data, 12 data count, 6 globals: none (nothing that could overlap tfjs's heap).
  const ids = sectionIds(bytes);
  for (const id of [6, 11, 12]) assert.ok(!ids.includes(id), `section ${id} in ${ids}`);
  const out = await Deno.makeTempFile({ suffix: ".ts" });
  const nativeOut = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../bench/build_kernels.ts", import.meta.url).pathname,
        "--wasm-out",
        out,
        "--native-out",
        nativeOut,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const committed = (path: string) =>
      Deno.readTextFile(new URL(`../../core/backend/${path}`, import.meta.url));
    assert.equal(
      await Deno.readTextFile(out),
      await committed("simd/sgemm_wasm.ts"),
      "core/backend/simd/sgemm_wasm.ts is stale: deno task build-kernels",
    );
    // The native object is rebuilt only where gcc is installed (CI installs it).
    const native = await Deno.readTextFile(nativeOut);
    if (native === "") console.log("gcc not found: the native sgemm's build was not compared");
    else {
      assert.equal(
        native,
        await committed("native/sgemm_so.ts"),
        "core/backend/native/sgemm_so.ts is stale: deno task build-kernels",
      );
    }
  } finally {
    await Deno.remove(out);
    await Deno.remove(nativeOut);
  }
});
