/**
 * The conformance kit for plugin authors: run {@link testObjective}, {@link testBackbone},
 * {@link testBenchmark} or {@link testDomain} on a part inside a `Deno.test` (or any test runner).
 * Each throws an `AssertionError` naming the part and the broken rule.
 *
 * @example Checking an objective
 * ```ts ignore
 * import { testObjective } from "jsr:@probsft/probsft/testing";
 * Deno.test("focal conforms", () => testObjective(focal, { params: [{ gamma: 2 }] }));
 * ```
 *
 * @module
 */
// Starts the default tensor backend, so that this entry works with no set-up call.
import "./backend/mod.ts";
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import assert from "node:assert/strict";
import { decodeWithSync } from "./decode.ts";
import { lossAndGradOf, makeTokenView, reduce } from "./loss.ts";
import { makeRandom } from "./random.ts";
import type {
  Backbone,
  BackboneContext,
  Benchmark,
  Domain,
  Example,
  Objective,
  Part,
} from "./plugin.ts";

function roundTrip<P>(part: Part<P>, kind: string, encoded: unknown): P {
  const where = `conformance kit, ${kind} "${part.id}"`;
  const what = `params of ${kind} "${part.id}"`;
  const decoded = decodeWithSync(part.params, encoded, { what, where });
  const again = Schema.encodeUnknownSync(part.params)(decoded);
  const redecoded = decodeWithSync(part.params, again, { what, where });
  assert.deepEqual(redecoded, decoded, `${kind} "${part.id}": params do not round-trip`);
  return decoded;
}

function checkPart(part: Part<unknown>, kind: string): void {
  assert.match(part.id, /^[a-z0-9]+(-[a-z0-9]+)*$/, `${kind} id ${part.id} is not kebab-case`);
  assert.ok(
    part.summary.length > 0 && !part.summary.includes("\n"),
    `${kind} "${part.id}": summary must be one line`,
  );
}

/** Options of {@link testObjective}. */
export interface ObjectiveConformance {
  /** Encoded params to try (default `[{}]`). */
  readonly params?: ReadonlyArray<unknown>;
  /** Vocabulary of the random logits (default 11). */
  readonly vocab?: number;
  /** Seed of the random inputs (default 1). */
  readonly seed?: number;
}

/**
 * Checks an objective: kebab-case id, params round-trip through the Schema, the per-token output
 * has the batch shape, loss and gradients are finite on random logits, gradients sum to zero over
 * the vocabulary, an all-masked batch gives 0, the closed-form descent weight (if declared)
 * matches autodiff, and no tensor leaks across a call.
 *
 * @param objective The objective to check.
 * @param options Params to try and the input size.
 */
export async function testObjective<P>(
  objective: Objective<P>,
  options: ObjectiveConformance = {},
): Promise<void> {
  checkPart(objective as Part<unknown>, "objective");
  const vocab = options.vocab ?? 11;
  const next = makeRandom(options.seed ?? 1);
  const [batch, time] = [2, 5];
  for (const encoded of options.params ?? [{}]) {
    const params = roundTrip(objective, "objective", encoded);
    const logitsData = Array.from({ length: batch * time * vocab }, () => 3 * (next() - 0.5));
    const targetData = Array.from({ length: batch * time }, () => Math.floor(next() * vocab));
    const maskData = Array.from({ length: batch * time }, (_, i) => (i % time === 0 ? 0 : 1));
    const before = tf.memory().numTensors;
    const run = (maskValues: number[]) =>
      tf.tidy(() => {
        const logits = tf.tensor3d(logitsData, [batch, time, vocab]);
        const referenceLogits = tf.tensor3d(logitsData.map((x) => x * 0.5), [batch, time, vocab]);
        const targets = tf.tensor2d(targetData, [batch, time], "int32");
        const mask = tf.tensor2d(maskValues, [batch, time]);
        const lossOf = (z: tf.Tensor) =>
          reduce(
            objective,
            params,
            makeTokenView(
              { logits: z as tf.Tensor3D, targets, mask, referenceLogits, seed: 7 },
              objective.needs,
            ),
          ).loss;
        const { value, grad } = tf.valueAndGrad(lossOf)(logits);
        return {
          loss: value.dataSync()[0]!,
          grad: Array.from(grad.dataSync()),
        };
      });
    const full = run(maskData);
    assert.ok(Number.isFinite(full.loss), `objective "${objective.id}": loss is ${full.loss}`);
    assert.ok(full.grad.every(Number.isFinite), `objective "${objective.id}": gradient not finite`);
    for (let row = 0; row < batch * time; row++) {
      const sum = full.grad.slice(row * vocab, (row + 1) * vocab).reduce((a, b) => a + b, 0);
      assert.ok(
        Math.abs(sum) < 1e-4,
        `objective "${objective.id}": gradient row ${row} sums to ${sum}, expected 0`,
      );
    }
    const none = run(maskData.map(() => 0));
    assert.equal(none.loss, 0, `objective "${objective.id}": all-masked batch gives ${none.loss}`);
    assert.ok(none.grad.every((g) => g === 0), `objective "${objective.id}": masked gradient`);
    assert.equal(
      tf.memory().numTensors,
      before,
      `objective "${objective.id}": tensors leaked across a call`,
    );
    if (
      objective.descentWeight && !objective.needs?.logits && !objective.needs?.referenceLogits
    ) {
      for (const target of [0, 3]) {
        const row = Array.from({ length: vocab }, () => 4 * (next() - 0.5));
        const z = row.map((x) => Math.exp(x));
        const p = z[target]! / z.reduce((a, b) => a + b, 0);
        const { gradLogits } = await lossAndGradOf(objective, params, {
          logits: [row],
          targets: [target],
        });
        const expected: number = -objective.descentWeight(p, params);
        const got = gradLogits[0]![target]!;
        assert.ok(
          Math.abs(got - expected) <= 1e-4 * Math.max(1, Math.abs(expected)),
          `objective "${objective.id}": d loss / d z_target = ${got} at p = ${p}, closed form −W(p) = ${expected}`,
        );
      }
    }
  }
}

/** Options of {@link testBackbone}. */
export interface BackboneConformance {
  /** Encoded params to build with. */
  readonly params: unknown;
  /** The context to build in. */
  readonly context: BackboneContext;
}

/**
 * Checks a backbone: it builds, logits have shape `[batch, time, vocab]` and are finite, every
 * variable gets a gradient, greedy generation with the cache equals generation without it, the
 * snapshot gives the same logits, and no tensor leaks across a forward pass or a generation.
 *
 * @param backbone The backbone to check.
 * @param options Params and context.
 */
export async function testBackbone<P>(
  backbone: Backbone<P>,
  options: BackboneConformance,
): Promise<void> {
  checkPart(backbone as Part<unknown>, "backbone");
  const params = roundTrip(backbone, "backbone", options.params);
  const model = await Effect.runPromise(backbone.make(params, options.context));
  try {
    const time = Math.min(6, model.contextLength);
    const ids = Array.from({ length: 2 * time }, (_, i) => (i * 7 + 1) % model.vocabSize);
    const before = tf.memory().numTensors;
    const logits = tf.tidy(() => {
      const out = model.logits(tf.tensor2d(ids, [2, time], "int32"));
      assert.deepEqual(out.shape, [2, time, model.vocabSize], `backbone "${backbone.id}": shape`);
      return Array.from(out.dataSync());
    });
    assert.ok(logits.every(Number.isFinite), `backbone "${backbone.id}": logits not finite`);
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.mean(model.logits(tf.tensor2d(ids, [2, time], "int32"))) as tf.Scalar,
        [...model.variables],
      );
      for (const variable of model.variables) {
        assert.ok(
          grads[variable.name],
          `backbone "${backbone.id}": no gradient for ${variable.name}`,
        );
      }
    });
    assert.equal(tf.memory().numTensors, before, `backbone "${backbone.id}": forward leaked`);
    const prompts = [ids.slice(0, 3), ids.slice(time, time + 3)];
    const cached = await model.generate(prompts, { maxNewTokens: 4, temperature: 0 });
    const uncached = await model.generate(prompts, {
      maxNewTokens: 4,
      temperature: 0,
      useCache: false,
    });
    assert.deepEqual(
      cached.map((g) => g.tokenIds),
      uncached.map((g) => g.tokenIds),
      `backbone "${backbone.id}": cached generation differs from uncached`,
    );
    assert.equal(tf.memory().numTensors, before, `backbone "${backbone.id}": generation leaked`);
    const frozen = model.snapshot();
    try {
      const again = tf.tidy(() =>
        Array.from(frozen.logits(tf.tensor2d(ids, [2, time], "int32")).dataSync())
      );
      assert.deepEqual(again, logits, `backbone "${backbone.id}": snapshot logits differ`);
    } finally {
      frozen.dispose();
    }
  } finally {
    model.dispose();
  }
}

/** One scoring case of {@link testBenchmark}. */
export interface ScoreCase {
  /** The item. */
  readonly example: Example;
  /** A completion. */
  readonly completion: string;
  /** Its expected score. */
  readonly expected: number;
}

/**
 * Checks a benchmark: params round-trip, every score lies in [0, 1], scoring is deterministic and
 * the given cases score as expected.
 *
 * @param benchmark The benchmark to check.
 * @param options Params and scoring cases.
 */
export function testBenchmark<P>(
  benchmark: Benchmark<P>,
  options: { readonly params?: unknown; readonly cases: ReadonlyArray<ScoreCase> },
): void {
  checkPart(benchmark as Part<unknown>, "benchmark");
  const params = roundTrip(benchmark, "benchmark", options.params ?? {});
  for (const c of options.cases) {
    const score = benchmark.score(c.example, c.completion, params);
    assert.ok(score >= 0 && score <= 1, `benchmark "${benchmark.id}": score ${score} ∉ [0, 1]`);
    assert.equal(benchmark.score(c.example, c.completion, params), score, "not deterministic");
    assert.ok(
      Math.abs(score - c.expected) < 1e-9,
      `benchmark "${benchmark.id}": ${
        JSON.stringify(c.completion)
      } scores ${score}, expected ${c.expected}`,
    );
  }
}

/**
 * Checks a domain: params round-trip, the same seed gives the same data, the SFT set and every
 * benchmark are non-empty, held-out prompts are disjoint from SFT prompts, and the primary key
 * names one of its sets and decodings.
 *
 * @param domain The domain to check.
 * @param options Params to load with.
 */
export async function testDomain<P>(
  domain: Domain<P>,
  options: { readonly params?: unknown; readonly seed?: number } = {},
): Promise<void> {
  checkPart(domain as Part<unknown>, "domain");
  const params = roundTrip(domain, "domain", options.params ?? {});
  const seed = options.seed ?? 0;
  const first = await Effect.runPromise(domain.load(params, seed));
  const second = await Effect.runPromise(domain.load(params, seed));
  assert.equal(
    JSON.stringify(first),
    JSON.stringify(second),
    `domain "${domain.id}": not deterministic`,
  );
  assert.ok(first.sft.length > 0, `domain "${domain.id}": empty SFT set`);
  const sftPrompts = new Set(first.sft.map((e) => e.prompt));
  const keys: string[] = [];
  for (const set of first.benchmarks) {
    assert.ok(set.examples.length > 0, `domain "${domain.id}": empty set ${set.name}`);
    for (const example of set.examples) {
      assert.ok(
        !sftPrompts.has(example.prompt),
        `domain "${domain.id}": held-out item ${example.id} of ${set.name} is in the SFT set`,
      );
    }
    for (const decoding of set.decodings) keys.push(`${set.name}/${decoding.name}`);
  }
  assert.ok(
    keys.includes(first.primary),
    `domain "${domain.id}": primary ${first.primary} ∉ ${keys}`,
  );
}
