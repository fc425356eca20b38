/**
 * Planning an experiment: the grid of cells (domains × backbones × objectives × seeds, plus each
 * base model), with every part resolved by the registry and each cell keyed by a readable slug and
 * the content hash of its resolved config, so that the same cell has the same key on every run
 * and every machine.
 *
 * @module
 */
import { Effect } from "effect";
import {
  type ChoiceConfig,
  choiceLabel,
  type DomainConfig,
  type EvaluationConfig,
  type ExperimentConfig,
  type ProbeConfig,
} from "./config.ts";
import { ConfigError, type UnknownId } from "./errors.ts";
import type { Backbone, Domain, Objective } from "./plugin.ts";
import type { RegistryShape, Resolved } from "./registry.ts";
import { paperRecipe, type TrainSettings } from "./train.ts";
import { sha256Hex } from "./hash.ts";

/** One cell of the grid, resolved. */
export interface PlannedCell {
  /** Unique key: a label slug and the content hash of the resolved config. */
  readonly key: string;
  readonly group: string;
  readonly domainIndex: number;
  readonly domain: DomainConfig;
  readonly domainPart: Resolved<Domain<unknown>>;
  readonly backbone: ChoiceConfig;
  readonly backbonePart: Resolved<Backbone<unknown>>;
  readonly objective: ChoiceConfig | undefined;
  readonly objectivePart: Resolved<Objective<unknown>> | undefined;
  readonly seed: number;
  /** Seed of the base model's initialisation and pretraining (the SFT seed, or 0). */
  readonly baseSeed: number;
  /** How the probe reads the SFT set. */
  readonly probe: ProbeConfig;
  readonly train: TrainSettings;
  readonly evaluation: EvaluationConfig;
  /** Save the fine-tuned model to `OUT/models/KEY/` (never for a base-model row). */
  readonly saveModel: boolean;
}

function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9.=-]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 80);
}

/**
 * Plans the cells of an experiment.
 *
 * @param config The decoded experiment.
 * @param source Where it came from (for messages).
 * @param registry The registry that resolves its parts.
 * @returns The cells, in run order.
 */
export function planCells(
  config: ExperimentConfig,
  source: string,
  registry: RegistryShape,
): Effect.Effect<PlannedCell[], ConfigError | UnknownId> {
  return Effect.gen(function* () {
    const cells: PlannedCell[] = [];
    for (const [d, domain] of config.domains.entries()) {
      const domainPart = yield* registry.domain(domain, `${source}: domains[${d}]`);
      const backbones = domain.backbones ?? config.backbones ?? [];
      if (backbones.length === 0) {
        return yield* new ConfigError({
          message:
            `No backbones for domain "${domain.id}" (${source}: domains[${d}]): give "backbones" at the top level or in the domain`,
          where: source,
        });
      }
      const objectives = domain.objectives ?? config.objectives;
      const trainSettings: TrainSettings = {
        ...paperRecipe,
        ...config.train,
        ...domain.train,
        steps: domain.train?.steps ?? config.train?.steps ?? 0,
      };
      const evaluation = { ...config.evaluation, ...domain.evaluation };
      for (const [b, backbone] of backbones.entries()) {
        const where = domain.backbones
          ? `${source}: domains[${d}].backbones[${b}]`
          : `${source}: backbones[${b}]`;
        const backbonePart = yield* registry.backbone(backbone, where);
        const resolvedObjectives: Array<[ChoiceConfig, Resolved<Objective<unknown>>]> = [];
        for (const [o, objective] of objectives.entries()) {
          const at = domain.objectives
            ? `${source}: domains[${d}].objectives[${o}]`
            : `${source}: objectives[${o}]`;
          resolvedObjectives.push([objective, yield* registry.objective(objective, at)]);
        }
        const group = `${choiceLabel(domain)} / ${choiceLabel(backbone)}`;
        const rows: Array<
          [ChoiceConfig | undefined, Resolved<Objective<unknown>> | undefined, number]
        > = [];
        // With a base model per seed, every seed has its base row.
        const varyBase = config.seedsVaryBaseModel !== false && backbonePart.part.seeded !== false;
        for (const [i, seed] of config.seeds.entries()) {
          if (config.baseline !== false && (i === 0 || varyBase)) {
            rows.push([undefined, undefined, seed]);
          }
          for (const [objective, part] of resolvedObjectives) rows.push([objective, part, seed]);
        }
        for (const [objective, objectivePart, seed] of rows) {
          const baseSeed = config.seedsVaryBaseModel === false ? 0 : seed;
          const identity = JSON.stringify({
            domain: [domain.id, domainPart.params],
            backbone: [backbone.id, backbonePart.params],
            objective: objective ? [objective.id, objectivePart!.params] : "base",
            seed,
            train: objective ? trainSettings : null,
            evaluation,
            // Part of the identity only when on, so that the keys of other runs stay the same.
            ...(objective && config.saveModels ? { saveModel: true } : {}),
            ...(baseSeed !== 0 ? { baseSeed } : {}),
            ...(config.probe?.samplePairs !== undefined ? { probe: config.probe } : {}),
          });
          const hash = (yield* Effect.promise(() => sha256Hex(identity))).slice(0, 10);
          const label = `${domain.label ?? domain.id}_${choiceLabel(backbone)}_${
            objective ? choiceLabel(objective) : "base"
          }_s${seed}`;
          cells.push({
            key: `${slug(label)}-${hash}`,
            group,
            domainIndex: d,
            domain,
            domainPart,
            backbone,
            backbonePart,
            objective,
            objectivePart,
            seed,
            baseSeed,
            probe: config.probe ?? {},
            train: trainSettings,
            evaluation,
            saveModel: objective !== undefined && config.saveModels === true,
          });
        }
      }
    }
    return cells;
  });
}
