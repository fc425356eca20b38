import "../_setup.ts";
import { Effect } from "effect";
import assert from "node:assert/strict";
import { decodeExperiment } from "../../core/config.ts";
import { makeRegistry } from "../../core/registry.ts";
import { builtins } from "../../plugins/builtins.ts";

const registry = Effect.runSync(makeRegistry([builtins]));

for (const entry of Deno.readDirSync(new URL("../../presets/", import.meta.url))) {
  if (!entry.name.endsWith(".json")) continue;
  Deno.test(`presets/${entry.name} decodes and names registered parts with valid params`, async () => {
    const source = `presets/${entry.name}`;
    const raw = JSON.parse(await Deno.readTextFile(new URL(`../../${source}`, import.meta.url)));
    const config = await Effect.runPromise(decodeExperiment(raw, source));
    assert.equal(config.name, entry.name.replace(/\.json$/, ""));
    for (const [d, domain] of config.domains.entries()) {
      await Effect.runPromise(registry.domain(domain, `${source}: domains[${d}]`));
      for (const backbone of domain.backbones ?? config.backbones ?? []) {
        await Effect.runPromise(registry.backbone(backbone, source));
      }
      for (const objective of domain.objectives ?? config.objectives) {
        await Effect.runPromise(registry.objective(objective, source));
      }
    }
  });
}
