import assert from "node:assert/strict";
import type { DomainData } from "../../core/plugin.ts";

/** Asserts the synthetic-domain rules: every text uses only the inventory, fits a 64 context. */
export function checkSymbols(data: DomainData, context = 64): void {
  const inventory = new Set(data.symbols ?? []);
  assert.ok(inventory.size > 0, "synthetic domain without symbols");
  const check = (text: string, where: string) => {
    assert.equal(text, text.trim(), `${where}: leading or trailing space`);
    assert.ok(!text.includes("  "), `${where}: double space`);
    for (const symbol of text.split(" ")) {
      assert.ok(inventory.has(symbol), `${where}: symbol ${JSON.stringify(symbol)} not listed`);
    }
  };
  // bos + prompt + response + eos must fit
  for (const [i, doc] of data.priorCorpus.entries()) {
    check(doc, `corpus ${i}`);
    assert.ok(doc.split(" ").length + 2 <= context, `corpus ${i} too long`);
  }
  for (const [i, e] of data.sft.entries()) {
    check(e.prompt, `sft ${i} prompt`);
    check(e.response, `sft ${i} response`);
    const n = e.prompt.split(" ").length + e.response.split(" ").length + 2;
    assert.ok(n <= context, `sft ${i} has ${n} tokens`);
  }
  for (const set of data.benchmarks) {
    for (const e of set.examples) {
      check(e.prompt, `${set.name} ${e.id}`);
      const longest = Math.max(...set.decodings.map((d) => d.maxNewTokens));
      assert.ok(e.prompt.split(" ").length + 1 + longest <= context, `${e.id} too long`);
    }
  }
}
