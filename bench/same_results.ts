/**
 * `deno run -A bench/same_results.ts A/results.json B/results.json`: whether two runs of one
 * experiment gave the same results (every field of every cell but its wall time, compared as
 * written), e.g. `--jobs 1` against `--jobs 2`. Prints `identical` and exits 0, or lists the cells
 * that differ and exits 1.
 *
 * @module
 */

type Cell = Record<string, unknown> & { key: string };

function cellsOf(path: string): Cell[] {
  const results = JSON.parse(Deno.readTextFileSync(path)) as { cells: Cell[] };
  return results.cells.map(({ wallSeconds: _, ...rest }) => rest as Cell);
}

if (import.meta.main) {
  const [a, b] = Deno.args;
  if (a === undefined || b === undefined) {
    console.error("usage: deno run -A bench/same_results.ts A/results.json B/results.json");
    Deno.exit(2);
  }
  const left = cellsOf(a);
  const right = new Map(cellsOf(b).map((c) => [c.key, c]));
  const differ = left.filter((c) => JSON.stringify(c) !== JSON.stringify(right.get(c.key)));
  const extra = [...right.keys()].filter((k) => !left.some((c) => c.key === k));
  if (differ.length === 0 && extra.length === 0) {
    console.log(`identical: ${left.length} cells (scores, meanPAfter, probes, items)`);
  } else {
    for (const c of differ) console.log(`differs: ${c.key}`);
    for (const k of extra) console.log(`only in ${b}: ${k}`);
    Deno.exit(1);
  }
}
