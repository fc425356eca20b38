import "../_setup.ts";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { makeRegistry } from "../../core/registry.ts";
import type { Plugin } from "../../core/plugin.ts";
import { builtins } from "../../plugins/builtins.ts";
import example from "../../plugins/examples/tsallis_log.ts";

function failure<A, E>(effect: Effect.Effect<A, E>): E {
  const exit = Effect.runSyncExit(effect);
  assert.ok(Exit.isFailure(exit), "expected a failure");
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(reason && reason._tag === "Fail");
  return reason.error;
}

Deno.test("makeRegistry() names both plugins of a duplicate id", () => {
  const copy: Plugin = { ...example, name: "copycat" };
  const error = failure(makeRegistry([builtins, example, copy]));
  assert.equal(error._tag, "DuplicateId");
  assert.match(error.message, /"tsallis-log".*"example-tsallis".*"copycat"/);
});

Deno.test("registry.objective() lists the known ids for an unknown id", () => {
  const registry = Effect.runSync(makeRegistry([builtins, example]));
  const error = failure(registry.objective({ id: "neg-probb" }, "presets/x.json: objectives[0]"));
  assert.equal(error._tag, "UnknownId");
  assert.match(
    error.message,
    /Unknown objective id "neg-probb" \(presets\/x.json: objectives\[0\]\)/,
  );
  assert.match(error.message, /neg-log-prob/);
  assert.match(error.message, /tsallis-log/);
  assert.ok(!error.message.includes("\n"));
});

Deno.test("registry.objective() decodes params with the part's Schema and names the field", () => {
  const registry = Effect.runSync(makeRegistry([builtins, example]));
  const ok = Effect.runSync(registry.objective({ id: "tsallis-log", params: { q: 0.25 } }));
  assert.deepEqual(ok.params, { q: 0.25 });
  assert.equal(ok.plugin, "example-tsallis");
  const defaults = Effect.runSync(registry.objective({ id: "tsallis-log" }));
  assert.deepEqual(defaults.params, { q: 0.5 });
  const wrongType = failure(registry.objective({ id: "tsallis-log", params: { q: "x" } }, "cfg"));
  assert.equal(wrongType._tag, "ConfigError");
  assert.match(wrongType.message, /params\.q: expected number, got "x"/);
  assert.match(wrongType.message, /objective "tsallis-log" \(plugin "example-tsallis"\)/);
  const range = failure(registry.objective({ id: "tsallis-log", params: { q: 1 } }, "cfg"));
  assert.match(range.message, /params\.q: expected a value less than 1, got 1/);
  const unknownKey = failure(registry.objective({ id: "tsallis-log", params: { qq: 1 } }, "cfg"));
  assert.match(unknownKey.message, /unknown key params\.qq/);
});

Deno.test("registry.list() gives kind, id, plugin and summary of every part", () => {
  const registry = Effect.runSync(makeRegistry([builtins, example]));
  const row = registry.list().find((r) => r.id === "tsallis-log");
  assert.deepEqual(row, {
    kind: "objective",
    id: "tsallis-log",
    plugin: "example-tsallis",
    summary: example.objectives![0]!.summary,
    experimental: false,
  });
});
