/**
 * `deno task probe --backbone SPEC --domain SPEC [--seed N] [--backend NAME] [--json]`: measures
 * the base model on the domain's SFT targets (Eq. 5 mean p, the percentile table, the share of
 * p > 0.55), places it on the capability continuum and recommends objectives.
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
      backend: { type: "string" },
      plugin: { type: "string", multiple: true },
      cache: { type: "string" },
      json: { type: "boolean" },
    });
    const backboneChoice = yield* parsePartSpec("backbone", values.backbone ?? "pretrained");
    const domainChoice = yield* parsePartSpec("domain", values.domain ?? "math");
    const seed = yield* numberFlag("probe", "seed", values.seed, 0);
    yield* useBackend(values.backend ?? defaultBackend);
    const registry = yield* registryWith(values.plugin ?? []);
    const domain = yield* registry.domain(domainChoice, "--domain");
    const backbone = yield* registry.backbone(backboneChoice, "--backbone");
    const data = yield* domain.part.load(domain.params, seed);
    const acquire = backbone.part.make(backbone.params, {
      seed: 0,
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
          const { result } = probe(model, pairs);
          if (values.json) {
            console.log(JSON.stringify(result, null, 2));
            return;
          }
          console.log(
            `backbone ${backboneChoice.id}, domain ${domainChoice.id}: ${result.tokens} target tokens`,
          );
          console.log(`likelihood estimate (Eq. 5, mean p): ${result.meanP.toFixed(4)}`);
          console.log(`share of tokens with p > 0.55: ${result.shareAbove055.toFixed(4)}`);
          console.log(
            `percentiles of p: ${
              probePercentiles.map((q) => `${q}%=${result.percentiles[String(q)]!.toFixed(4)}`)
                .join(
                  " ",
                )
            }`,
          );
          console.log(`continuum position: ${result.regime}`);
          console.log(`recommended objectives: ${result.recommendation.join(", ")}`);
          console.log(`because: ${result.reason}`);
        }),
      (model) => Effect.sync(() => model.dispose()),
    );
  });
