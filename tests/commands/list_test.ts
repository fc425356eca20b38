// `deno task list` as a user runs it.
import assert from "node:assert/strict";
import { assertOneLineError, okJson, runTask } from "./_run.ts";

interface Row {
  kind: string;
  id: string;
  plugin: string;
  summary: string;
  experimental: boolean;
}

Deno.test("deno task list --json lists every built-in part; the table has the same rows", async () => {
  const rows = okJson<Row[]>(await runTask(["list", "--json"]));
  assert.ok(Array.isArray(rows) && rows.length > 10, `rows: ${rows.length}`);
  for (const row of rows) {
    assert.equal(typeof row.id, "string");
    assert.ok(row.summary.length > 0, `${row.id} has a summary`);
  }
  const objectives = rows.filter((r) => r.kind === "objective").map((r) => r.id);
  for (const id of ["neg-log-prob", "neg-prob", "general-family", "thresholded-neg-log-prob"]) {
    assert.ok(objectives.includes(id), `objective ${id} listed`);
  }
  const kinds = new Set(rows.map((r) => r.kind));
  for (const kind of ["objective", "backbone", "benchmark", "domain"]) {
    assert.ok(kinds.has(kind), `kind ${kind} listed`);
  }
  assert.ok(rows.every((r) => r.plugin === "probsft"), "all from the built-in plugin");

  const table = await runTask(["list"]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split("\n");
  assert.match(lines[0]!, /^KIND\s+ID\s+PLUGIN\s+SUMMARY/);
  assert.equal(lines.length, rows.length + 1);
  assert.match(table.stdout, /objective\s+neg-log-prob\s+probsft/);
  assertOneLineError(await runTask(["list", "--bogus"]), /Unknown option '--bogus'/);
});
