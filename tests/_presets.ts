/**
 * The tiny addition-domain preset the runner, kill, command and cluster tests sweep: one domain,
 * a one-layer transformer, NLL and −p by default; each test sets what it varies.
 *
 * @module
 */
import type { ExperimentConfig } from "../core/config.ts";

/** What a test varies in {@link tinyPreset}. */
export interface TinyOptions {
  readonly seeds?: number[];
  readonly steps: number;
  readonly checkpointEvery: number;
  readonly sftExamples?: number;
  readonly testItems?: number;
  readonly samples?: number;
  readonly dModel?: number;
  readonly nLayers?: number;
  readonly dMlp?: number;
  readonly objectives?: ExperimentConfig["objectives"];
}

/**
 * A tiny preset (plain JSON, ready to write to a file or run).
 *
 * @param name The experiment name.
 * @param o What the test varies.
 * @returns The preset.
 */
export function tinyPreset(name: string, o: TinyOptions): ExperimentConfig {
  const items = o.testItems ?? 8;
  return {
    name,
    seeds: o.seeds ?? [0],
    objectives: o.objectives ?? [{ id: "neg-log-prob" }, { id: "neg-prob" }],
    train: { batchSize: 8, checkpointEvery: o.checkpointEvery },
    evaluation: { batchSize: 16, maxItems: items },
    domains: [{
      id: "math",
      params: {
        sftExamples: o.sftExamples ?? 96,
        testItems: items,
        samples: o.samples ?? 2,
        corpusDocuments: 16,
      },
      backbones: [{
        id: "transformer",
        params: {
          dModel: o.dModel ?? 16,
          nLayers: o.nLayers ?? 1,
          nHeads: 2,
          dMlp: o.dMlp ?? 32,
        },
      }],
      train: { steps: o.steps },
    }],
  };
}
