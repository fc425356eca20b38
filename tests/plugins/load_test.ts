import "../_setup.ts";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { loadPlugin, pluginShapeProblem } from "../../plugins/load.ts";
import { testObjective } from "../../core/testing.ts";
import { tsallisLog } from "../../plugins/examples/tsallis_log.ts";

async function loadError(specifier: string): Promise<string> {
  const exit = await Effect.runPromiseExit(loadPlugin(specifier));
  assert.ok(Exit.isFailure(exit));
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(reason && reason._tag === "Fail");
  assert.equal(reason.error._tag, "PluginError");
  return reason.error.message;
}

Deno.test("loadPlugin() loads the example plugin from its file path", async () => {
  const plugin = await Effect.runPromise(loadPlugin("plugins/examples/tsallis_log.ts"));
  assert.equal(plugin.name, "example-tsallis");
  assert.deepEqual(plugin.objectives?.map((o) => o.id), ["tsallis-log"]);
});

Deno.test("loadPlugin() reports a missing file and a module without a plugin", async () => {
  assert.match(await loadError("plugins/examples/missing.ts"), /does not exist/);
  assert.match(await loadError("plugins/examples/bad_no_export.ts"), /exports no plugin/);
});

Deno.test("loadPlugin() names a module that throws on import", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/throws.ts`;
  await Deno.writeTextFile(file, 'throw new Error("boom at import");\nexport default {};\n');
  assert.match(await loadError(file), /importing it threw .*boom at import/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pluginShapeProblem() says what does not conform", () => {
  assert.equal(
    pluginShapeProblem({ name: "x" }),
    "it contributes no objectives, backbones, benchmarks or domains",
  );
  assert.match(
    pluginShapeProblem({ name: "x", objectives: [{ id: "a", summary: "s", params: {} }] })!,
    /perToken/,
  );
  assert.equal(pluginShapeProblem(42), "it is not an object");
});

Deno.test("the example objective passes the conformance kit", () =>
  testObjective(tsallisLog, { params: [{}, { q: 0 }, { q: 0.9 }] }));
