/**
 * The built-in benchmarks (scoring rules) and domains.
 *
 * @module
 */
import type { Benchmark, Domain } from "../core/plugin.ts";

/** Every built-in benchmark (scoring rule). */
export const benchmarks: ReadonlyArray<Benchmark<unknown>> = [];

/** Every built-in domain. */
export const domains: ReadonlyArray<Domain<unknown>> = [];
