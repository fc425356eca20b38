// Jaro and Jaro–Winkler against the published test values of maintained implementations
// (jellyfish, Apache Commons Text), kept with their sources in tests/fixtures/graders/.
import assert from "node:assert/strict";
import { jaro, jaroWinkler } from "../../benchmarks/mod.ts";

interface ReferenceSet {
  readonly source: string;
  readonly licence: string;
  readonly function: "jaro" | "jaroWinkler";
  readonly tolerance: number;
  readonly cases: ReadonlyArray<[string, string, number]>;
}

const fixture: { sets: ReferenceSet[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../fixtures/graders/jaro_winkler.json", import.meta.url)),
);

Deno.test("jaro() and jaroWinkler() give the values maintained implementations publish", () => {
  for (const set of fixture.sets) {
    assert.match(set.source, /^https:\/\/github\.com\//);
    const f = set.function === "jaro" ? jaro : jaroWinkler;
    for (const [a, b, expected] of set.cases) {
      const got = f(a, b);
      // jellyfish rounds to 3 places; Commons Text asserts within 1e-5 of a truncated value.
      assert.ok(
        Math.abs(got - expected) <= set.tolerance + 1e-5,
        `${set.function}(${JSON.stringify(a)}, ${
          JSON.stringify(b)
        }) = ${got}, ${set.source} says ${expected}`,
      );
    }
  }
});

Deno.test("jaroWinkler() is symmetric, in [0, 1], and boosts at most a 4-character prefix", () => {
  const words = ["", "a", "ab", "abcdefgh", "abcdxyzw", "hgfedcba", "PENNSYLVANIA", "foo  "];
  for (const a of words) {
    for (const b of words) {
      const v = jaroWinkler(a, b);
      assert.ok(v >= 0 && v <= 1, `${a} ${b} ${v}`);
      assert.ok(Math.abs(v - jaroWinkler(b, a)) < 1e-12, `symmetric on ${a} ${b}`);
    }
  }
  // a common prefix of 6 is boosted as a prefix of 4: j + 4·0.1·(1 − j)
  const j = jaro("abcdefXY", "abcdefYZ");
  assert.ok(Math.abs(jaroWinkler("abcdefXY", "abcdefYZ") - (j + 0.4 * (1 - j))) < 1e-12);
  // matching window ⌊max(|a|, |b|)/2⌋ − 1 = 1 for length 4: "abcd" vs "bxxa" matches only "b"
  assert.ok(Math.abs(jaro("abcd", "bxxa") - (1 / 4 + 1 / 4 + 1) / 3) < 1e-12);
});
