// `deno task fuzz` as a user runs it, with a small case count: every target runs, none crashes.
import assert from "node:assert/strict";
import { assertOneLineError, okJson, runTask } from "./_run.ts";

interface FuzzReport {
  name: string;
  cases: number;
  accepted: number;
  rejected: number;
  crashes: Array<{ index: number; error: string }>;
  slowestMs: number;
  rssGrowthMiB: number;
}

Deno.test("deno task fuzz --cases 100 --json: every parser target, 0 crashes", async () => {
  const reports = okJson<FuzzReport[]>(
    await runTask(["fuzz", "--cases", "100", "--seed", "7", "--json"]),
  );
  assert.ok(reports.length >= 4, `${reports.length} targets`);
  const names = reports.map((r) => r.name).join(" ");
  for (const part of ["safetensors", "jsonl", "answer", "config"]) {
    assert.match(names, new RegExp(part, "i"), `a ${part} target in: ${names}`);
  }
  for (const r of reports) {
    assert.equal(r.cases, 100, r.name);
    assert.equal(r.accepted + r.rejected, 100, r.name);
    assert.deepEqual(r.crashes, [], r.name);
    assert.ok(r.slowestMs >= 0 && r.slowestMs < 2000, `${r.name}: slowest ${r.slowestMs} ms`);
  }
  // Some inputs parse and some are refused: the generator reaches both sides.
  assert.ok(reports.some((r) => r.accepted > 0) && reports.some((r) => r.rejected > 0));

  const table = await runTask(["fuzz", "--cases", "20"]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^\| parser \| cases \|/);
  assert.equal(table.stdout.trim().split("\n").length, reports.length + 2);
  assert.match(table.stderr, /^fuzz .*: 20 cases, 0 crashes$/m);
  assertOneLineError(await runTask(["fuzz", "--cases", "many"]), /--cases must be a number/);
});
