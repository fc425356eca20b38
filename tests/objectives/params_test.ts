import "../_setup.ts";
import { Effect, Exit } from "effect";
import assert from "node:assert/strict";
import { makeRegistry } from "../../core/registry.ts";
import { objectives } from "../../objectives/mod.ts";

const registry = Effect.runSync(makeRegistry([{ name: "builtin", objectives }]));

function decode(
  id: string,
  params: unknown,
): Exit.Exit<unknown, { message: string; _tag: string }> {
  return Effect.runSyncExit(
    Effect.map(registry.objective({ id, params }, "test"), (r) => r.params),
  );
}

function failure(id: string, params: unknown): { message: string; _tag: string } {
  const exit = decode(id, params);
  assert.ok(Exit.isFailure(exit), `${id} ${JSON.stringify(params)} decoded`);
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail");
  assert.ok(reason && reason._tag === "Fail");
  return reason.error;
}

Deno.test("objectives lists negLogProb first and every id once", () => {
  assert.equal(objectives[0]!.id, "neg-log-prob");
  assert.equal(new Set(objectives.map((o) => o.id)).size, objectives.length);
  assert.equal(objectives.length, 15);
});

Deno.test("bad params fail decoding with a one-line ConfigError naming objective and field", () => {
  const bad: ReadonlyArray<[string, unknown, string]> = [
    ["general-family", { alpha: -1 }, "alpha"],
    ["general-family", { alpha: 0 }, "alpha"],
    ["general-family", { alpha: NaN }, "alpha"],
    ["general-family", {}, "alpha"],
    ["neg-prob-power", { alpha: 0 }, "alpha"],
    ["thresholded-neg-log-prob", { tau: 1.5 }, "tau"],
    ["thresholded-neg-log-prob", { tau: -0.1 }, "tau"],
    ["thresholded-neg-prob", { tau: NaN }, "tau"],
    ["thresholded-neg-prob", { tau: { percentile: 101 } }, "tau.percentile"],
    ["thresholded-log-one-minus-prob", { tau: 0.2, keep: "sideways" }, "keep"],
    ["thresholded-log-one-minus-prob", { tau: 0.2, epsilon: -1 }, "epsilon"],
    ["log-one-minus-prob", { epsilon: -0.1 }, "epsilon"],
    ["anchored", { lambda: NaN }, "lambda"],
    ["anchored", { lambda: -1 }, "lambda"],
    ["focal", { gamma: -1 }, "gamma"],
    ["huber-prob", { delta: 0 }, "delta"],
    ["gft", { tau: 2 }, "tau"],
    ["deft", { variant: "tsallis" }, "variant"],
    ["otr", { samples: 0 }, "samples"],
    ["otr", { samples: 1.5 }, "samples"],
    ["otr", { temperature: 0 }, "temperature"],
    ["otr", { beta: -1 }, "beta"],
    ["neg-prob", { alpha: 1 }, "alpha"],
  ];
  for (const [id, params, field] of bad) {
    const error = failure(id, params);
    assert.equal(error._tag, "ConfigError");
    assert.ok(!error.message.includes("\n"), `multi-line message: ${error.message}`);
    assert.ok(error.message.includes(`"${id}"`), `message does not name ${id}: ${error.message}`);
    assert.ok(
      error.message.includes(`params.${field}`),
      `message does not name ${field}: ${error.message}`,
    );
  }
});

Deno.test("the general-family alpha message is the documented one", () => {
  assert.equal(
    failure("general-family", { alpha: -1 }).message,
    'Cannot decode params of objective "general-family" (plugin "builtin"): params.alpha: ' +
      "expected a value greater than 0, got -1 (test)",
  );
});

Deno.test("params defaults are filled in", () => {
  const ok = (id: string, params: unknown) => {
    const exit = decode(id, params);
    assert.ok(Exit.isSuccess(exit), `${id} failed`);
    return exit.value;
  };
  assert.deepEqual(ok("thresholded-neg-prob", { tau: 0.2 }), { tau: 0.2, keep: "above" });
  assert.deepEqual(ok("thresholded-neg-log-prob", { tau: { percentile: 30 } }), {
    tau: { percentile: 30 },
    keep: "above",
  });
  assert.deepEqual(ok("log-one-minus-prob", {}), { epsilon: 1e-3 });
  assert.deepEqual(ok("anchored", {}), { lambda: 0.1 });
  assert.deepEqual(ok("focal", {}), { gamma: 2 });
  assert.deepEqual(ok("deft", {}), { variant: "renyi" });
  assert.deepEqual(ok("otr", {}), { samples: 8, temperature: 1, beta: 1 });
});
