/**
 * `deno task experiment --plan`: the memory plan of every (domain, backbone) group of a preset,
 * printed before a run and without one (core/memory_plan.ts): weights, gradients, AdamW,
 * activations of a micro-batch and the loss chunk against the backend's limit. A backbone that
 * can give its size without loading weights (a Hugging Face folder's `config.json`) is not
 * loaded; others are built and disposed. The sequence length is the longest SFT example when the
 * model can be built and the data read, else the model's context (the worst case), as the line
 * says. `PROBSFT_MEMORY_LIMIT_MB` sets the limit of a backend whose memory is unknown (a GPU).
 *
 * @module
 */
import { Effect } from "effect";
import type { ExperimentConfig } from "../core/config.ts";
import type { UserError } from "../core/errors.ts";
import { describePlan, type Footprint, footprintOf, trainingPlan } from "../core/memory_plan.ts";
import { planCells, type PlannedCell } from "../core/plan.ts";
import type { RegistryShape } from "../core/registry.ts";
import { encodePairs } from "../core/sft_batches.ts";

/** What a plan row is computed from: the model's size and the sequence length used. */
interface Sized {
  readonly footprint: Footprint;
  readonly time: number;
  readonly timeSource: string;
}

/** The footprint and sequence length of a cell's model, loading as little as it can. */
function sizeOf(
  cell: PlannedCell,
  context: { seed: number; cacheDir: string; log(line: string): void },
): Effect.Effect<Sized, UserError> {
  const backbone = cell.backbonePart.part;
  if (backbone.footprint) {
    return Effect.map(backbone.footprint(cell.backbonePart.params, context), (footprint) => ({
      footprint,
      time: footprint.contextLength,
      timeSource: "the model's context; the data were not read",
    }));
  }
  return Effect.flatMap(
    cell.domainPart.part.load(cell.domainPart.params, 0),
    (data) =>
      Effect.acquireUseRelease(
        backbone.make(cell.backbonePart.params, { ...context, domain: data }),
        (model) =>
          Effect.try({
            try: (): Sized => {
              const pairs = encodePairs(data.sft, model.tokenizer, model.contextLength, "plan");
              return {
                footprint: footprintOf(model),
                time: Math.max(1, ...pairs.map((p) => p.ids.length - 1)),
                timeSource: "the longest SFT example",
              };
            },
            catch: (error) => error as UserError,
          }),
        (model) => Effect.sync(() => model.dispose()),
      ),
  );
}

/**
 * Prints one memory plan per (domain, backbone) group of an experiment.
 *
 * @param config The decoded experiment.
 * @param source Where it came from.
 * @param registry The registry.
 * @param backend The tensor backend the run would use.
 * @param print Receives each line.
 * @returns Nothing; a group that cannot be sized prints why and the others still print.
 */
export function printPlans(
  config: ExperimentConfig,
  source: string,
  registry: RegistryShape,
  backend: string,
  print: (line: string) => void,
): Effect.Effect<void, UserError> {
  return Effect.gen(function* () {
    const cells = (yield* planCells(config, source, registry)).filter((c) => c.objective);
    const seen = new Set<string>();
    for (const cell of cells) {
      if (seen.has(cell.group)) continue;
      seen.add(cell.group);
      const context = {
        seed: 0,
        cacheDir: ".cache/probsft",
        log: (line: string) => print(`  ${line}`),
      };
      const sized = yield* Effect.result(sizeOf(cell, context));
      if (sized._tag === "Failure") {
        print(`${cell.group}: cannot size: ${sized.failure.message}`);
        continue;
      }
      const { footprint, time, timeSource } = sized.success;
      const train = cell.train;
      const rows = Math.min(train.microBatchSize ?? train.batchSize, train.batchSize);
      const plan = trainingPlan(footprint, train, time, backend);
      const verdict = !Number.isFinite(plan.limit)
        ? "limit unknown"
        : plan.total <= plan.limit
        ? "fits"
        : "does NOT fit";
      print(
        `${cell.group}: ${verdict}: ${describePlan(plan)}; batch ${train.batchSize} as ${
          Math.ceil(train.batchSize / rows)
        } micro-batch(es); sequence length ${time} (${timeSource})`,
      );
    }
  });
}
