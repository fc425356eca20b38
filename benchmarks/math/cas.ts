/**
 * Scalar expressions on a computer-algebra system: LaTeX is parsed by the Cortex Compute Engine
 * (`@cortex-js/compute-engine`: LaTeX to MathJSON, canonical forms, numeric evaluation), and two
 * expressions are compared symbolically (their difference simplifies to 0) and numerically (their
 * values agree at fixed sample points of their unknowns).
 *
 * Tolerances (the grader's stated rule):
 * - two constant values agree when |a − b| ≤ 1e-9 · max(1, |a|, |b|);
 * - a decimal literal written with d places (`0.33`, `2.6667`) equals a constant v when
 *   |v − literal| ≤ ½·10^−d, i.e. when it is v correctly rounded to its own places; two decimal
 *   literals are compared by value, never by rounding one to the other;
 * - expressions with unknowns agree when the difference simplifies to 0, or when their values
 *   agree (1e-8 relative) at every one of six sample points (each unknown drawn from [0.3, 2.7]
 *   by a fixed sequence) where both are finite, and at least two points are finite.
 *
 * Each comparison runs under a time bound ({@link withTimeBound}); every parse and evaluation
 * happens in a scope of its own, so symbols one answer declares (`f(x)`) do not leak into the next.
 *
 * @module
 */
import type { ComputeEngine, Expression as BoxedExpression } from "@cortex-js/compute-engine";

/**
 * The library, loaded once. It reads environment variables as it loads, so in a Deno process
 * without `--allow-env` (a library user's script with no permissions) it cannot: math answers are
 * then compared without the CAS (numbers, normal forms), and one line says so.
 */
let loadFailure = "";
const library = await import("@cortex-js/compute-engine").catch((error: unknown) => {
  loadFailure = String((error as Error)?.message ?? error).split("\n")[0]!;
  return null;
});

/** Says once, when a comparison first needs it, that the CAS is unavailable. */
function noteMissingLibrary(): void {
  if (loadFailure === "") return;
  console.error(
    `probsft: the math grader's computer-algebra system could not load (${loadFailure}); math answers are compared without it (run with --allow-env for symbolic equivalence)`,
  );
  loadFailure = "";
}

let engine: ComputeEngine | null = null;

/** The shared engine, made on first use (about 0.1 s); throws when the library did not load. */
function ce(): ComputeEngine {
  if (library === null) throw new Error("the computer-algebra system is not loaded");
  engine ??= new library.ComputeEngine();
  return engine;
}

/** Thrown when a comparison runs past its time bound. */
export class TimeBoundExceeded extends Error {
  /** Makes the error. */
  constructor() {
    super("math comparison ran past its time bound");
    this.name = "TimeBoundExceeded";
  }
}

let deadline = Infinity;

/** Throws {@link TimeBoundExceeded} when the current comparison is past its deadline. */
export function checkTimeBound(): void {
  if (performance.now() > deadline) throw new TimeBoundExceeded();
}

/**
 * Runs `body` with a deadline `ms` milliseconds away, inside a fresh engine scope. The engine
 * cancels its own work at the deadline (`withTimeLimit`), and this module checks it between
 * engine calls; past it, the result is `fallback`.
 *
 * @param ms The time bound in milliseconds.
 * @param fallback The result when the bound is exceeded.
 * @param body The comparison.
 * @returns What `body` returns, or `fallback`.
 */
export function withTimeBound<T>(ms: number, fallback: T, body: () => T): T {
  const outer = deadline;
  deadline = Math.min(outer, performance.now() + ms);
  if (library === null) {
    noteMissingLibrary();
    try {
      return body();
    } catch (error) {
      if (error instanceof TimeBoundExceeded) return fallback;
      throw error;
    } finally {
      deadline = outer;
    }
  }
  const engine = ce();
  engine.pushScope();
  try {
    return engine.withTimeLimit(ms, body as () => T extends Promise<unknown> ? never : T);
  } catch (error) {
    if (error instanceof TimeBoundExceeded || error instanceof library.CancellationError) {
      return fallback;
    }
    throw error;
  } finally {
    engine.popScope();
    deadline = outer;
  }
}

/** A parsed scalar expression, or null when the text does not parse cleanly. */
export function parseLatex(latex: string): BoxedExpression | null {
  checkTimeBound();
  try {
    const expression = ce().parse(latex);
    return expression.isValid ? expression : null;
  } catch {
    return null;
  }
}

/** The unknowns (free symbols) of an expression, sorted. */
export function unknownsOf(expression: BoxedExpression): string[] {
  return [...expression.unknowns].sort();
}

/** A complex value as [re, im]; NaN parts when it is not a number. */
export type Complex = readonly [number, number];

/**
 * The numeric value of an expression with its unknowns set, as [re, im].
 *
 * @param expression The expression.
 * @param values A value per unknown (none for a constant).
 * @returns [re, im]; NaN parts when it does not evaluate to a number.
 */
export function evaluateAt(
  expression: BoxedExpression,
  values: Readonly<Record<string, number>> = {},
): Complex {
  checkTimeBound();
  try {
    const bound = Object.keys(values).length > 0 ? expression.subs(values) : expression;
    const value = bound.N();
    const re = value.re;
    const im = value.im;
    return [typeof re === "number" ? re : NaN, typeof im === "number" ? im : NaN];
  } catch {
    return [NaN, NaN];
  }
}

/** Whether two values agree within 1e-9 relative (or absolute near 0). */
export function closeValues(a: Complex, b: Complex, relative = 1e-9): boolean {
  const part = (x: number, y: number) => {
    if (x === y) return true; // also ±Infinity
    if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
    return Math.abs(x - y) <= relative * Math.max(1, Math.abs(x), Math.abs(y));
  };
  return part(a[0], b[0]) && part(a[1] || 0, b[1] || 0);
}

/** Decimal places of a decimal literal (`-2.50` → 2), or null when it is not one. */
export function decimalPlaces(latex: string): number | null {
  const m = /^[-+]?\d*\.(\d+)$/.exec(latex.trim());
  return m ? m[1]!.length : null;
}

/** Fixed sample values in [0.3, 2.7] (a low-discrepancy sequence; no 0, 1 or integers). */
function sample(point: number, index: number): number {
  const golden = 0.6180339887498949;
  const u = ((point + 1) * golden + (index + 1) * 0.7548776662466927) % 1;
  return 0.3 + 2.4 * u;
}

const samplePoints = 6;

/**
 * The values of an expression at the fixed sample points of the given unknowns.
 *
 * @param expression The expression.
 * @param unknowns The unknowns to set (a superset of its own).
 * @returns One value per sample point.
 */
export function sampleValues(
  expression: BoxedExpression,
  unknowns: ReadonlyArray<string>,
): Complex[] {
  const out: Complex[] = [];
  for (let p = 0; p < samplePoints; p++) {
    const values: Record<string, number> = {};
    unknowns.forEach((name, i) => values[name] = sample(p, i));
    out.push(evaluateAt(expression, values));
  }
  return out;
}

const finite = (v: Complex) => Number.isFinite(v[0]) && Number.isFinite(v[1] || 0);

/**
 * Whether two LaTeX scalar expressions are equal: exactly for constants (1e-9 relative), by
 * rounding for a decimal literal against an exact value, symbolically or at sample points when
 * they have unknowns (see the module doc).
 *
 * @param a One expression (a normal form).
 * @param b The other.
 * @returns True when judged equal; false when not, or when either does not parse.
 */
export function expressionsEqual(a: string, b: string): boolean {
  const x = parseLatex(a);
  const y = parseLatex(b);
  if (x === null || y === null) return false;
  const unknowns = [...new Set([...unknownsOf(x), ...unknownsOf(y)])].sort();
  if (unknowns.length === 0) {
    const u = evaluateAt(x);
    const v = evaluateAt(y);
    if (!finite(u) || !finite(v)) return closeValues(u, v);
    const da = decimalPlaces(a);
    const db = decimalPlaces(b);
    if ((da === null) !== (db === null)) {
      const places = (da ?? db)!;
      const tolerance = 0.5 * 10 ** -places * (1 + 1e-9) + 1e-12 * Math.abs(u[0]);
      return Math.abs(u[0] - v[0]) <= tolerance && Math.abs((u[1] || 0) - (v[1] || 0)) <= tolerance;
    }
    return closeValues(u, v);
  }
  checkTimeBound();
  try {
    const difference = ce().box(["Subtract", x.json, y.json]).simplify();
    if (difference.is(0)) return true;
  } catch {
    // fall through to sampling
  }
  const xs = sampleValues(x, unknowns);
  const ys = sampleValues(y, unknowns);
  let usable = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!finite(xs[i]!) || !finite(ys[i]!)) continue;
    if (!closeValues(xs[i]!, ys[i]!, 1e-8)) return false;
    usable++;
  }
  return usable >= 2;
}

/**
 * Whether two expressions are proportional: a/b is the same finite non-zero constant at every
 * sample point where both are finite and b ≠ 0 (equations `l = r` compare by l − r this way).
 *
 * @param a One expression (LaTeX).
 * @param b The other.
 * @param sign Require the constant to be positive (1), negative (−1) or either (0).
 * @returns True when proportional.
 */
export function proportional(a: string, b: string, sign: -1 | 0 | 1 = 0): boolean {
  const x = parseLatex(a);
  const y = parseLatex(b);
  if (x === null || y === null) return false;
  const unknowns = [...new Set([...unknownsOf(x), ...unknownsOf(y)])].sort();
  const xs = sampleValues(x, unknowns);
  const ys = sampleValues(y, unknowns);
  let ratio: number | null = null;
  let usable = 0;
  for (let i = 0; i < xs.length; i++) {
    const [p, q] = [xs[i]!, ys[i]!];
    if (!finite(p) || !finite(q) || Math.abs(q[0]) < 1e-12 || (p[1] || 0) || (q[1] || 0)) {
      continue;
    }
    const r = p[0] / q[0];
    if (ratio === null) ratio = r;
    else if (!closeValues([r, 0], [ratio, 0], 1e-8)) return false;
    usable++;
  }
  if (ratio === null || usable < 2 || Math.abs(ratio) < 1e-12) return false;
  return sign === 0 || Math.sign(ratio) === sign;
}
