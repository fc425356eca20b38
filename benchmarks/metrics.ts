/**
 * Metric helpers: greedy accuracy and avg@k (the mean over items of the mean over k samples), per
 * benchmark and averaged over benchmarks, each with its item count.
 *
 * @module
 */

/** One metric value with the counts it rests on. */
export interface MetricValue {
  /** The score in [0, 1] (NaN when there are no items). */
  readonly value: number;
  /** Items scored. */
  readonly items: number;
  /** Samples per item (1 for greedy). */
  readonly samples: number;
}

/**
 * Greedy accuracy: the mean of one score per item.
 *
 * @example
 * ```ts ignore
 * greedyAccuracy([1, 0, 1, 1]); // { value: 0.75, items: 4, samples: 1 }
 * ```
 *
 * @param scores One score in [0, 1] per item.
 * @returns The accuracy and the item count.
 */
export function greedyAccuracy(scores: ReadonlyArray<number>): MetricValue {
  const value = scores.length === 0 ? NaN : scores.reduce((a, b) => a + b, 0) / scores.length;
  return { value, items: scores.length, samples: 1 };
}

/**
 * avg@k: per item the mean of its k sample scores, then the mean over items (the paper's
 * "average of 16 generations", `mean_acc` in its evaluation code).
 *
 * @example
 * ```ts ignore
 * avgAtK([[1, 0, 1, 1], [0, 0, 0, 1]]); // { value: 0.5, items: 2, samples: 4 }
 * ```
 *
 * @param scores Per item, the scores of its samples (every item the same k).
 * @returns The mean and the counts.
 */
export function avgAtK(scores: ReadonlyArray<ReadonlyArray<number>>): MetricValue {
  const k = scores[0]?.length ?? 0;
  if (scores.some((row) => row.length !== k || k === 0)) {
    throw new Error(`avgAtK: every item needs the same k > 0 samples`);
  }
  const perItem = scores.map((row) => row.reduce((a, b) => a + b, 0) / k);
  return { ...greedyAccuracy(perItem), samples: k };
}

/** The average of several benchmarks' metrics. */
export interface MetricAverage {
  /** The unweighted mean over benchmarks (the paper's "Avg." column). */
  readonly mean: number;
  /** The mean weighted by item counts (the pooled accuracy). */
  readonly weighted: number;
  /** Benchmarks averaged. */
  readonly benchmarks: number;
  /** Items over all benchmarks. */
  readonly items: number;
}

/**
 * Averages per-benchmark metrics, unweighted and weighted by items; benchmarks without items are
 * left out.
 *
 * @param metrics Metric values keyed by benchmark.
 * @returns Both averages and the counts.
 */
export function averageMetrics(metrics: Readonly<Record<string, MetricValue>>): MetricAverage {
  const values = Object.values(metrics).filter((m) => m.items > 0);
  const items = values.reduce((a, m) => a + m.items, 0);
  return {
    mean: values.length === 0 ? NaN : values.reduce((a, m) => a + m.value, 0) / values.length,
    weighted: items === 0 ? NaN : values.reduce((a, m) => a + m.value * m.items, 0) / items,
    benchmarks: values.length,
    items,
  };
}
