/**
 * `deno task probe --backbone SPEC --domain SPEC [--seed N] [--base-seed N] [--sample N]
 * [--backend NAME] [--json]`: measures the base model on the domain's SFT targets (Eq. 5 mean p,
 * the percentile table, the share of p > 0.55; targets the domain marks as forced reported
 * apart), places it on the capability continuum with its distance to the nearest cut-off, and
 * recommends objectives. It reads every SFT pair, or with `--sample N` a uniform random sample
 * of N pairs with the standard errors of its figures.
 *
 * @module
 */
import { Effect } from "effect";
import { isUserError, PluginError } from "../core/errors.ts";
import { probe, probePercentiles } from "../core/probe.ts";
import { encodePairs } from "../core/sft_batches.ts";
import { defaultBackend, useBackend } from "../core/backend/mod.ts";
import { type Command, numberFlag, parseFlags } from "./flags.ts";
import { parsePartSpec } from "./part_spec.ts";
import { registryWith } from "./registry_with.ts";

/** The probe command. */
export const probeCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("probe", args, {
      backbone: { type: "string" },
      domain: { type: "string" },
      seed: { type: "string" },
      "base-seed": { type: "string" },
      sample: { type: "string" },
      backend: { type: "string" },
      plugin: { type: "string", multiple: true },
      cache: { type: "string" },
      json: { type: "boolean" },
    });
    const backboneChoice = yield* parsePartSpec("backbone", values.backbone ?? "pretrained");
    const domainChoice = yield* parsePartSpec("domain", values.domain ?? "math");
    const seed = yield* numberFlag("probe", "seed", values.seed, 0);
    const baseSeed = yield* numberFlag("probe", "base-seed", values["base-seed"], 0);
    const sample = values.sample === undefined
      ? undefined
      : yield* numberFlag("probe", "sample", values.sample, 0);
    yield* useBackend(values.backend ?? defaultBackend);
    const registry = yield* registryWith(values.plugin ?? []);
    const domain = yield* registry.domain(domainChoice, "--domain");
    const backbone = yield* registry.backbone(backboneChoice, "--backbone");
    const data = yield* domain.part.load(domain.params, seed);
    const acquire = backbone.part.make(backbone.params, {
      seed: baseSeed,
      domain: data,
      cacheDir: values.cache ?? ".cache/probsft",
      log: (line) => console.error(line),
    });
    yield* Effect.acquireUseRelease(
      acquire,
      (model) =>
        Effect.gen(function* () {
          const pairs = yield* Effect.try({
            try: () => encodePairs(data.sft, model.tokenizer, model.contextLength, domainChoice.id),
            catch: (error) =>
              isUserError(error)
                ? error
                : new PluginError({ message: String(error), plugin: domainChoice.id }),
          });
          const { result } = probe(model, pairs, {
            ...(sample !== undefined && sample > 0 ? { samplePairs: sample, seed } : {}),
          });
          if (values.json) {
            console.log(JSON.stringify(result, null, 2));
            return;
          }
          const sampled = result.pairs.read < result.pairs.of;
          const se = (x: number) => (sampled ? ` ± ${x.toFixed(4)} (standard error)` : "");
          console.log(
            `backbone ${backboneChoice.id}, domain ${domainChoice.id}: ${
              sampled
                ? `a random sample of ${result.pairs.read} of ${result.pairs.of} SFT pairs`
                : `all ${result.pairs.of} SFT pairs`
            }; ${result.tokens} target tokens, ${result.forced.tokens} more marked forced`,
          );
          console.log(
            `likelihood estimate (Eq. 5, mean p, targets not forced): ${result.meanP.toFixed(4)}${
              se(result.meanPStandardError)
            }`,
          );
          console.log(
            `share of tokens with p > 0.55: ${result.shareAbove055.toFixed(4)}${
              se(result.shareStandardError)
            }`,
          );
          console.log(
            `forced targets: ${result.forced.tokens} tokens, mean p ${
              result.forced.meanP.toFixed(4)
            }; Eq. 5 over every target: ${result.allTargets.meanP.toFixed(4)}`,
          );
          console.log(
            `percentiles of p: ${
              probePercentiles.map((q) => `${q}%=${result.percentiles[String(q)]!.toFixed(4)}`)
                .join(
                  " ",
                )
            }`,
          );
          console.log(
            `continuum position: ${result.regime}, ${
              result.cutoffDistance.toFixed(4)
            } from the nearest cut-off (${result.nearestCutoff})${
              result.knifeEdge ? ": a knife edge" : ""
            }`,
          );
          console.log(`recommended objectives: ${result.recommendation.join(", ")}`);
          console.log(`because: ${result.reason}`);
        }),
      (model) => Effect.sync(() => model.dispose()),
    );
  });
