/**
 * The orderings of objectives in two runs of one experiment (probsft's `results.json` and the
 * PyTorch twin's graded cells), side by side: per (domain, backbone) group and score key, each
 * objective's mean and standard deviation over seeds, the objectives sorted by mean (best
 * first; the base row is shown, never ordered), and whether the two orderings are the same.
 *
 * @module
 */

/** What the orderings read of a cell (a `results.json` record or a graded twin cell). */
export interface ScoredCell {
  readonly domain: string;
  readonly backbone: { readonly label: string };
  readonly objective: { readonly label: string };
  readonly seed: number;
  readonly scores: Readonly<Record<string, number>>;
  readonly primaryKey: string;
}

/** Mean and standard deviation over seeds (sample std; 0 for one seed). */
export interface Spread {
  readonly mean: number;
  readonly std: number;
  readonly seeds: number;
}

/** One group and score key, both runs. */
export interface OrderingRow {
  /** `"<domain> / <backbone>"`. */
  readonly group: string;
  /** The score key. */
  readonly key: string;
  /** Whether it is the domain's headline key. */
  readonly primary: boolean;
  /** Per objective label (the base row included), each run's spread. */
  readonly scores: Readonly<
    Record<string, { readonly probsft?: Spread; readonly torch?: Spread }>
  >;
  /** Objectives by mean, best first, in tiers of equal means (each in the preset's order). */
  readonly probsftOrder: ReadonlyArray<ReadonlyArray<string>>;
  readonly torchOrder: ReadonlyArray<ReadonlyArray<string>>;
  /** Same full ordering, ties included. */
  readonly agree: boolean;
  /** Same best tier. */
  readonly winnerAgrees: boolean;
}

/** The agreement over all rows. */
export interface Agreement {
  /** Groups (primary keys) compared, and in how many the full ordering and the winner agree. */
  readonly groups: number;
  readonly agree: number;
  readonly winnerAgrees: number;
  /** Every key, likewise. */
  readonly keys: number;
  readonly keysAgree: number;
}

function spread(values: ReadonlyArray<number>): Spread {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), seeds: n };
}

function byGroup(cells: ReadonlyArray<ScoredCell>) {
  const groups = new Map<string, Map<string, Map<string, number[]>>>();
  const primary = new Map<string, string>();
  const objectives = new Map<string, string[]>();
  for (const cell of cells) {
    const group = `${cell.domain} / ${cell.backbone.label}`;
    primary.set(group, cell.primaryKey);
    const labels = objectives.get(group) ?? [];
    if (!labels.includes(cell.objective.label)) labels.push(cell.objective.label);
    objectives.set(group, labels);
    const keys = groups.get(group) ?? new Map<string, Map<string, number[]>>();
    groups.set(group, keys);
    for (const [key, value] of Object.entries(cell.scores)) {
      const perObjective = keys.get(key) ?? new Map<string, number[]>();
      keys.set(key, perObjective);
      const values = perObjective.get(cell.objective.label) ?? [];
      values.push(value);
      perObjective.set(cell.objective.label, values);
    }
  }
  return { groups, primary, objectives };
}

/** Objectives by mean, best first; objectives with equal means share a tier (preset order). */
function order(
  labels: ReadonlyArray<string>,
  means: ReadonlyMap<string, number>,
): string[][] {
  const sorted = labels
    .filter((l) => l !== "base" && means.has(l))
    .map((label, i) => ({ label, i, mean: means.get(label)! }))
    .sort((a, b) => b.mean - a.mean || a.i - b.i);
  const tiers: Array<{ mean: number; labels: string[] }> = [];
  for (const x of sorted) {
    const last = tiers[tiers.length - 1];
    if (last && Math.abs(last.mean - x.mean) <= 1e-9) last.labels.push(x.label);
    else tiers.push({ mean: x.mean, labels: [x.label] });
  }
  return tiers.map((t) => t.labels);
}

/**
 * An ordering as text: `a > b = c` (tiers of equal means joined by `=`).
 *
 * @param tiers The ordering.
 * @returns The text, or `–` when empty.
 */
export function orderText(tiers: ReadonlyArray<ReadonlyArray<string>>): string {
  return tiers.length === 0 ? "–" : tiers.map((t) => t.join(" = ")).join(" > ");
}

/**
 * Compares the orderings of two runs.
 *
 * @param probsft probsft's cells (`results.json`'s `cells`).
 * @param torch The twin's graded cells.
 * @returns One row per group and score key (primary key first), and the agreement.
 */
export function compareOrderings(
  probsft: ReadonlyArray<ScoredCell>,
  torch: ReadonlyArray<ScoredCell>,
): { rows: OrderingRow[]; agreement: Agreement } {
  const a = byGroup(probsft);
  const b = byGroup(torch);
  const rows: OrderingRow[] = [];
  for (const [group, keys] of a.groups) {
    const primaryKey = a.primary.get(group)!;
    const sortedKeys = [...keys.keys()].sort((x, y) =>
      Number(y === primaryKey) - Number(x === primaryKey)
    );
    for (const key of sortedKeys) {
      const ours = keys.get(key)!;
      const theirs = b.groups.get(group)?.get(key) ?? new Map<string, number[]>();
      const labels = a.objectives.get(group)!;
      const scores: Record<string, { probsft?: Spread; torch?: Spread }> = {};
      for (const label of labels) {
        const x = ours.get(label);
        const y = theirs.get(label);
        scores[label] = {
          ...(x ? { probsft: spread(x) } : {}),
          ...(y ? { torch: spread(y) } : {}),
        };
      }
      const means = (side: "probsft" | "torch") =>
        new Map(
          Object.entries(scores).flatMap(([l, s]) => s[side] ? [[l, s[side]!.mean] as const] : []),
        );
      const probsftOrder = order(labels, means("probsft"));
      const torchOrder = order(labels, means("torch"));
      rows.push({
        group,
        key,
        primary: key === primaryKey,
        scores,
        probsftOrder,
        torchOrder,
        agree: probsftOrder.length > 0 && orderText(probsftOrder) === orderText(torchOrder),
        winnerAgrees: probsftOrder.length > 0 &&
          orderText(probsftOrder.slice(0, 1)) === orderText(torchOrder.slice(0, 1)),
      });
    }
  }
  const primaries = rows.filter((r) => r.primary);
  return {
    rows,
    agreement: {
      groups: primaries.length,
      agree: primaries.filter((r) => r.agree).length,
      winnerAgrees: primaries.filter((r) => r.winnerAgrees).length,
      keys: rows.length,
      keysAgree: rows.filter((r) => r.agree).length,
    },
  };
}
