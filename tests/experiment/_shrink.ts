/**
 * A preset shrunken for a test, the way a user would shrink it: `path=value` overrides on the
 * command line of `deno task experiment --preset NAME` (one seed, a one-layer model, a few
 * pretraining and SFT steps, a few SFT pairs and test items). Pretraining lengths are divided by
 * 100 (rounded up), so that levels stay distinct and a 0-step base stays unpretrained.
 *
 * @module
 */
import type { ExperimentConfig } from "../../core/config.ts";

/**
 * The overrides that shrink a preset.
 *
 * @param preset The parsed preset JSON.
 * @returns `path=value` strings for `deno task experiment`.
 */
export function shrinkOverrides(preset: ExperimentConfig): string[] {
  const overrides = [
    "seeds=[0]",
    "train.batchSize=8",
    "train.checkpointEvery=1000",
    "evaluation.batchSize=16",
    "evaluation.maxItems=4",
  ];
  for (const [d, domain] of preset.domains.entries()) {
    overrides.push(
      `domains.${d}.params.sftExamples=32`,
      `domains.${d}.params.testItems=4`,
      `domains.${d}.params.corpusDocuments=64`,
      `domains.${d}.train.steps=2`,
    );
    if (domain.id === "math") overrides.push(`domains.${d}.params.samples=2`);
    for (const [b, backbone] of (domain.backbones ?? []).entries()) {
      const steps = Math.ceil(((backbone.params as { steps?: number })?.steps ?? 0) / 100);
      overrides.push(
        `domains.${d}.backbones.${b}.params=${
          JSON.stringify({ steps, dModel: 16, nLayers: 1, nHeads: 2, dMlp: 32 })
        }`,
      );
    }
  }
  return overrides;
}
