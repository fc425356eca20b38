/**
 * A plugin used only by the cluster scaling benchmark (`bench/cluster_scaling.ts`): the `sleep`
 * backbone waits `seconds` (without using the CPU) and then builds the smallest built-in
 * transformer, so that a sweep's cells cost wall time but almost no computation, and what the
 * benchmark measures is the cluster's coordination, not the two cores of one machine.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { Backbone, ParamsSchema, Plugin } from "../mod.ts";
import { transformerBackbone } from "../backbones/parts.ts";

/** Params of {@link sleepBackbone}. */
export interface SleepParams {
  /** Seconds to wait before the model is built. */
  readonly seconds: number;
}

const params: ParamsSchema<SleepParams> = Schema.Struct({
  seconds: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(10)),
  ),
});

/** Waits, then builds a one-layer, width-8 transformer. */
export const sleepBackbone: Backbone<SleepParams> = {
  id: "sleep",
  summary: "waits `seconds`, then a one-layer width-8 transformer (cluster benchmark only)",
  params,
  make: ({ seconds }, context) =>
    Effect.gen(function* () {
      yield* Effect.sleep(seconds * 1000);
      const inner = yield* Schema.decodeUnknownEffect(transformerBackbone.params)({
        dModel: 8,
        nLayers: 1,
        nHeads: 1,
        dMlp: 16,
      }).pipe(Effect.orDie);
      return yield* transformerBackbone.make(inner, context);
    }),
};

/** The benchmark's plugin. */
const plugin: Plugin = {
  name: "probsft-bench-sleep",
  backbones: [sleepBackbone as Backbone<unknown>],
};

export default plugin;
