/**
 * `deno run -A bench/regrade_addition.ts OUT_DIR OLD_ROOT [NEW_ROOT]`: the logged completions of a
 * run (`OUT_DIR/cells/*.samples.jsonl`) on the addition task re-graded with the strict
 * `math-answer` rule of an older checkout (OLD_ROOT, e.g. a `git worktree` at 12a585b, before the
 * `boxed-number` rule) and the `boxed-number` rule of NEW_ROOT (default: this checkout), to show
 * which completions and cells a grader change moves. Other sets keep their logged scores. The new
 * rule must reproduce every logged score, or the run is refused.
 *
 * @module
 */
import { Schema } from "effect";
import type { Benchmark, Example } from "../core/plugin.ts";

const [out, oldRoot, newRoot = new URL("..", import.meta.url).pathname] = Deno.args;
if (out === undefined || oldRoot === undefined) {
  console.error("usage: deno run -A bench/regrade_addition.ts OUT_DIR OLD_ROOT [NEW_ROOT]");
  Deno.exit(1);
}

type Benchmarks = { benchmarks: ReadonlyArray<Benchmark<unknown>> };
const rule = async (root: string, id: string, params: unknown) => {
  const { benchmarks } = (await import(`${root}/benchmarks/mod.ts`)) as Benchmarks;
  const benchmark = benchmarks.find((b) => b.id === id);
  if (benchmark === undefined) throw new Error(`${root} has no benchmark ${id}`);
  const decoded = Schema.decodeUnknownSync(benchmark.params)(params);
  return (example: Example, text: string) => benchmark.score(example, text, decoded);
};
const before = await rule(oldRoot, "math-answer", { strict: true, spaced: true });
const after = await rule(newRoot, "boxed-number", { spaced: true });

interface Sample {
  set: string;
  decoding: string;
  id: string;
  completion: string;
  reference: string;
  score: number;
}

const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as {
  cells: Array<{ key: string }>;
};
const moved: string[] = [];
let total = 0, changed = 0;
for (const cell of results.cells) {
  const text = await Deno.readTextFile(`${out}/cells/${cell.key}.samples.jsonl`);
  const sums = new Map<string, [number, number, number]>();
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const s = JSON.parse(line) as Sample;
    let old = s.score;
    if (s.set === "addition-test") {
      const example = { id: s.id, prompt: "", reference: s.reference };
      old = before(example, s.completion);
      if (after(example, s.completion) !== s.score) {
        throw new Error(`${cell.key} ${s.id}: the new rule does not give the logged score`);
      }
    }
    total++;
    if (old !== s.score) {
      changed++;
      console.log(
        `${cell.key} ${s.set}/${s.decoding}: ${old} -> ${s.score} for ${
          JSON.stringify(s.completion.slice(-60))
        } (reference ${s.reference})`,
      );
    }
    const key = `${s.set}/${s.decoding}`;
    const [o, n, c] = sums.get(key) ?? [0, 0, 0];
    sums.set(key, [o + old, n + s.score, c + 1]);
  }
  for (const [key, [o, n, c]] of sums) {
    if (o !== n) {
      moved.push(`${cell.key} ${key}: ${(100 * o / c).toFixed(1)} -> ${(100 * n / c).toFixed(1)}`);
    }
  }
}
console.log(`${changed} of ${total} completions graded differently; cells that moved:`);
for (const line of moved) console.log(`  ${line}`);
