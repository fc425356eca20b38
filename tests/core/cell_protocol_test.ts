// The parent-worker line protocol (core/_cell_protocol.ts): results cross it exactly, errors as
// the same classes.
import assert from "node:assert/strict";
import { decodeLine, encodeLine, fromWire, toWire } from "../../core/_cell_protocol.ts";
import { CheckpointError, OutputError, PluginError } from "../../core/errors.ts";

Deno.test("encodeLine()/decodeLine() keep NaN, infinities and every float", () => {
  const value = { scores: { a: NaN, b: Infinity, c: -Infinity, d: 0.1 + 0.2, e: -0 }, n: [1e-310] };
  const back = decodeLine<typeof value>(encodeLine(value));
  assert.ok(Number.isNaN(back.scores.a));
  assert.equal(back.scores.b, Infinity);
  assert.equal(back.scores.c, -Infinity);
  assert.equal(back.scores.d, 0.1 + 0.2);
  assert.deepEqual(back.n, [1e-310]);
  assert.ok(!encodeLine(value).includes("\n"));
  // Written to a file the same way as before the crossing.
  assert.equal(JSON.stringify(back, null, 2), JSON.stringify(value, null, 2));
});

Deno.test("toWire()/fromWire() give back the same error class with its fields", () => {
  const errors = [
    new OutputError({ message: "Cannot write x: disk full", file: "x" }),
    new PluginError({ message: "bad", plugin: "p" }),
    new CheckpointError({ message: "truncated", file: "c" }),
  ];
  for (const error of errors) {
    const back = fromWire(decodeLine(encodeLine(toWire(error))));
    assert.equal(back.constructor, error.constructor);
    assert.equal(back._tag, error._tag);
    assert.equal(back.message, error.message);
    assert.deepEqual({ ...back }, { ...error });
  }
  const unknown = fromWire({ tag: "Strange", fields: { message: "odd" } });
  assert.equal(unknown._tag, "ConfigError");
  assert.equal(unknown.message, "odd");
});
