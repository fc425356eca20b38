/**
 * Grading the PyTorch twin's completions with probsft's own graders: each cell's token ids
 * (`cells/<key>.json` of `bench/torch_experiment.py`) are decoded with the backbone's tokenizer,
 * cut at the decoding's first stop string (as `backbones/generate.ts` does), and scored by the
 * set's registered benchmark, so grading is identical on both sides. A score is the mean over
 * items and samples, as in `core/evaluate.ts`.
 *
 * @module
 */
import { Effect } from "effect";
import { choiceLabel, type ExperimentConfig } from "../core/config.ts";
import { type ConfigError, DataError, type UnknownId } from "../core/errors.ts";
import { planCells } from "../core/plan.ts";
import type { DomainData } from "../core/plugin.ts";
import type { RegistryShape } from "../core/registry.ts";
import { firstStop } from "../backbones/generate.ts";
import type { ScoredCell } from "./orderings.ts";
import { loadCellData, twinBackbone } from "./twin_export.ts";

/** One graded cell of the twin: the fields the orderings read, as in `results.json`. */
export interface GradedCell extends ScoredCell {
  /** The cell key. */
  readonly key: string;
  /** The headline score. */
  readonly primary: number;
}

function cutAtStop(text: string, stops: ReadonlyArray<string>): string {
  const at = firstStop(text, stops);
  return at < 0 ? text : text.slice(0, at);
}

/**
 * Grades the twin's output folder.
 *
 * @param config The experiment that was exported.
 * @param source Where it came from.
 * @param registry The registry.
 * @param dir The twin's output folder (holding `cells/<key>.json`).
 * @returns One graded cell per exported cell, in plan order.
 */
export function gradeTwin(
  config: ExperimentConfig,
  source: string,
  registry: RegistryShape,
  dir: string,
): Effect.Effect<GradedCell[], ConfigError | UnknownId | DataError> {
  return Effect.gen(function* () {
    const cells = yield* planCells(config, source, registry);
    const data = new Map<string, DomainData>();
    const graded: GradedCell[] = [];
    for (const cell of cells) {
      const file = `${dir}/cells/${cell.key}.json`;
      const output = yield* Effect.tryPromise({
        try: async () =>
          JSON.parse(await Deno.readTextFile(file)) as {
            completions: Record<string, number[][]>;
          },
        catch: (error) =>
          new DataError({
            message: `Cannot read the twin's cell ${file}: ${(error as Error).message}`,
            file,
          }),
      });
      const { fixed } = yield* loadCellData(cell, data);
      const { tokenizer } = yield* twinBackbone(cell, fixed);
      const scores: Record<string, number> = {};
      for (const set of fixed.benchmarks) {
        const resolved = yield* registry.benchmark(set.benchmark, `${source}: set ${set.name}`);
        const examples = set.examples.slice(0, cell.evaluation.maxItems ?? set.examples.length);
        for (const decoding of set.decodings) {
          const key = `${set.name}/${decoding.name}`;
          const rows = output.completions[key];
          if (!rows || examples.length === 0 || rows.length % examples.length !== 0) {
            return yield* new DataError({
              message: `The twin's cell ${file} has ${
                rows?.length ?? "no"
              } completions for ${key}, expected a multiple of ${examples.length}`,
              file,
            });
          }
          let total = 0;
          rows.forEach((ids, r) => {
            const example = examples[r % examples.length]!;
            const text = cutAtStop(tokenizer.decode(ids), decoding.stop ?? []);
            total += resolved.part.score(example, text, resolved.params);
          });
          scores[key] = total / rows.length;
        }
      }
      graded.push({
        key: cell.key,
        domain: choiceLabel(cell.domain),
        backbone: { label: choiceLabel(cell.backbone) },
        objective: { label: cell.objective ? choiceLabel(cell.objective) : "base" },
        seed: cell.seed,
        scores,
        primaryKey: fixed.primary,
        primary: scores[fixed.primary] ?? NaN,
      });
    }
    return graded;
  });
}
