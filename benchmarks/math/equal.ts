/**
 * Equivalence of two math answers on a computer-algebra system: both are normalised
 * ({@link normalizeMathAnswer}), read into their structure ({@link readMathValue}), and compared
 * part by part, scalars on the Compute Engine ({@link expressionsEqual}).
 *
 * Rules:
 * - numbers: integers exactly (`100001` ≠ `100000`); a decimal literal equals an exact value when it
 *   is that value rounded to its own places (`0.33` = `\frac{1}{3}`, `1.01` ≠ `1`); two decimal
 *   literals by value; constants within 1e-9 relative;
 * - a percentage `p\%` equals `p` and `p/100`; without a `\%` on either side, `28` ≠ `0.28`;
 * - expressions with unknowns: symbolically or at fixed sample points (`\sec^2 y` = `\tan^2 y + 1`);
 * - a bare list (`1, 2`), a set (`\{1, 2\}`) and several boxed answers are unordered; tuples and
 *   a tuple against a bare list are ordered;
 * - intervals keep their brackets (`(0, 1]` ≠ `(0, 1)`, `[0, 1]` ≠ `(0, 1)`); a pair `(a, b)` is an
 *   open interval when compared with a region; intervals, unions, `x \in S` and inequalities in one
 *   unknown are compared as sets of reals (`-793 < a < 10` = `(-793, 10)`, `x \leq 5` = `5 \geq x`);
 * - `x = v` (a bare name on the left) equals v; two equations are equal when l − r of one is a
 *   non-zero multiple of l − r of the other (`2x + 4y - 3 = 0` = `y = -\frac{1}{2}x + \frac{3}{4}`);
 *   an equation with no bare-name side never equals a bare value (`7 = 11a + c` ≠ `11a + c`);
 * - matrices cell by cell with the same shape; text answers case-insensitively.
 *
 * Every comparison that reaches the computer-algebra system runs under a time bound (default
 * 2000 ms); past it the answers are judged not equal. Plain numbers never reach it.
 *
 * @module
 */
import {
  checkTimeBound,
  closeValues,
  evaluateAt,
  expressionsEqual,
  parseLatex,
  proportional,
  unknownsOf,
  withTimeBound,
} from "./cas.ts";
import { normalizeMathAnswer } from "./normalize.ts";
import { type MathValue, readNormal, textKey } from "./structure.ts";

/** Options of {@link mathAnswersEqual}. */
export interface MathEqualOptions {
  /** Time bound of one comparison on the computer-algebra system, in ms (default 2000). */
  readonly timeBoundMs?: number;
}

const integer = /^[-+]?\d+$/;
const decimal = /^[-+]?(?:\d+\.\d*|\.\d+)$/;

/** Plain-number comparison without the CAS: true/false, or null when either is not plain. */
function plainNumbersEqual(a: string, b: string): boolean | null {
  const x = a.replaceAll(" ", "");
  const y = b.replaceAll(" ", "");
  if (integer.test(x) && integer.test(y)) return BigInt(x) === BigInt(y);
  const dx = decimal.test(x);
  const dy = decimal.test(y);
  if ((dx || integer.test(x)) && (dy || integer.test(y))) {
    const [u, v] = [Number(x), Number(y)];
    if (dx && dy) return closeValues([u, 0], [v, 0], 1e-12);
    const literal = dx ? x : y;
    const places = literal.split(".")[1]!.length;
    return Math.abs(u - v) <= 0.5 * 10 ** -places * (1 + 1e-9) + 1e-12 * Math.abs(u);
  }
  return null;
}

/** Scalar equality of two LaTeX expressions: plain numbers first, then the CAS. */
function scalarsEqual(a: string, b: string): boolean {
  if (a.replace(/\s+/g, "") === b.replace(/\s+/g, "")) return true;
  const plain = plainNumbersEqual(a, b);
  if (plain !== null) return plain;
  return expressionsEqual(a, b);
}

function exprsEqual(
  a: { latex: string; percent: boolean },
  b: { latex: string; percent: boolean },
): boolean {
  if (a.percent === b.percent) return scalarsEqual(a.latex, b.latex);
  const [p, q] = a.percent ? [a, b] : [b, a];
  return scalarsEqual(q.latex, p.latex) || scalarsEqual(q.latex, `\\frac{${p.latex}}{100}`);
}

/** Unordered matching of two item lists (every item used once). */
function unorderedEqual(a: ReadonlyArray<MathValue>, b: ReadonlyArray<MathValue>): boolean {
  if (a.length !== b.length) return false;
  const used = new Array<boolean>(b.length).fill(false);
  const match = (i: number): boolean => {
    if (i === a.length) return true;
    for (let j = 0; j < b.length; j++) {
      if (used[j] || !valuesEqual(a[i]!, b[j]!)) continue;
      used[j] = true;
      if (match(i + 1)) return true;
      used[j] = false;
    }
    return false;
  };
  return match(0);
}

function orderedEqual(a: ReadonlyArray<MathValue>, b: ReadonlyArray<MathValue>): boolean {
  return a.length === b.length && a.every((item, i) => valuesEqual(item, b[i]!));
}

// ---------------------------------------------------------------------------------------------
// Sets of reals

type Region = { contains(x: number): boolean; points: number[] };

function constantOf(value: MathValue): number | null {
  if (value.kind !== "expr") return null;
  const plain = /^[-+]?(?:\d+(?:\.\d+)?|\.\d+)$/.test(value.latex) ? Number(value.latex) : null;
  if (plain !== null) return plain;
  const parsed = parseLatex(value.latex);
  if (parsed === null || unknownsOf(parsed).length > 0) return null;
  const [re, im] = evaluateAt(parsed);
  return Number.isNaN(re) || (im !== 0 && !Number.isNaN(im)) ? null : re;
}

const near = (x: number, c: number) =>
  x === c || Math.abs(x - c) <= 1e-9 * Math.max(1, Math.abs(c));

function relationHolds(op: string, a: number, b: number): boolean {
  switch (op) {
    case "<":
      return a < b && !near(a, b);
    case ">":
      return a > b && !near(a, b);
    case "\\leq":
      return a <= b || near(a, b);
    case "\\geq":
      return a >= b || near(a, b);
    case "\\neq":
      return !near(a, b);
    default:
      return near(a, b);
  }
}

/** The value as a set of reals, or null when it is not one. */
function regionOf(value: MathValue, asInterval: boolean): Region | null {
  checkTimeBound();
  switch (value.kind) {
    case "interval":
    case "tuple": {
      if (
        value.kind === "tuple" && (!asInterval || value.items.length !== 2 || value.open !== "()")
      ) {
        return null;
      }
      const [lo, hi, loOpen, hiOpen] = value.kind === "interval"
        ? [constantOf(value.lo), constantOf(value.hi), value.loOpen, value.hiOpen]
        : [constantOf(value.items[0]!), constantOf(value.items[1]!), true, true];
      if (lo === null || hi === null) return null;
      return {
        contains: (x) =>
          (loOpen ? x > lo && !near(x, lo) : x >= lo || near(x, lo)) &&
          (hiOpen ? x < hi && !near(x, hi) : x <= hi || near(x, hi)),
        points: [lo, hi],
      };
    }
    case "union": {
      const parts = value.parts.map((p) => regionOf(p, true));
      if (parts.some((p) => p === null)) return null;
      return {
        contains: (x) => parts.some((p) => p!.contains(x)),
        points: parts.flatMap((p) => p!.points),
      };
    }
    case "set":
    case "list": {
      if (!asInterval) return null;
      const values = value.items.map(constantOf);
      if (values.some((v) => v === null)) return null;
      return { contains: (x) => values.some((v) => near(x, v!)), points: values as number[] };
    }
    case "member":
      return regionOf(value.set, true);
    case "expr":
      return /^\\mathbb\{?R\}?$/.test(value.latex) ? { contains: () => true, points: [] } : null;
    case "inequality": {
      const sides = value.sides.map(parseLatex);
      if (sides.some((s) => s === null)) return null;
      const names = [...new Set(sides.flatMap((s) => unknownsOf(s!)))];
      if (names.length !== 1) return null;
      const name = names[0]!;
      const points = sides.filter((s) => unknownsOf(s!).length === 0).map((s) => evaluateAt(s!)[0]);
      return {
        contains: (x) => {
          const values = sides.map((s) => evaluateAt(s!, { [name]: x })[0]);
          return value.ops.every((op, i) => relationHolds(op, values[i]!, values[i + 1]!));
        },
        points,
      };
    }
    default:
      return null;
  }
}

const isRegionKind = (v: MathValue) =>
  v.kind === "interval" || v.kind === "union" || v.kind === "member" || v.kind === "inequality";

/** Whether two sets of reals agree at their boundary points, near them and far out. */
function regionsEqual(a: Region, b: Region): boolean {
  const base = [...a.points, ...b.points].filter(Number.isFinite);
  const points = new Set<number>([0, 0.5, -0.5, 1e7, -1e7]);
  for (const c of [...base, ...base.map((c) => -c)]) {
    const step = 1e-6 * Math.max(1, Math.abs(c));
    for (const x of [c, c - step, c + step, c - 0.37, c + 0.37]) points.add(x);
  }
  const sorted = [...base].sort((x, y) => x - y);
  for (let i = 1; i < sorted.length; i++) points.add((sorted[i - 1]! + sorted[i]!) / 2);
  for (const x of points) {
    checkTimeBound();
    if (a.contains(x) !== b.contains(x)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Relations

/** An inequality `l op r` as `d op' 0` with op' in <, ≤, ≠ (d = l − r or r − l). */
function oriented(sides: ReadonlyArray<string>, op: string): { d: string; op: string } {
  const [l, r] = [sides[0]!, sides[1]!];
  if (op === ">" || op === "\\geq") return { d: `(${r})-(${l})`, op: op === ">" ? "<" : "\\leq" };
  return { d: `(${l})-(${r})`, op };
}

function inequalitiesEqual(
  a: { sides: ReadonlyArray<string>; ops: ReadonlyArray<string> },
  b: { sides: ReadonlyArray<string>; ops: ReadonlyArray<string> },
): boolean {
  if (a.sides.length === 2 && b.sides.length === 2) {
    const x = oriented(a.sides, a.ops[0]!);
    const y = oriented(b.sides, b.ops[0]!);
    return x.op === y.op && proportional(x.d, y.d, x.op === "\\neq" ? 0 : 1);
  }
  const flip: Record<string, string> = { ">": "<", "\\geq": "\\leq" };
  const upward = (v: { sides: ReadonlyArray<string>; ops: ReadonlyArray<string> }) =>
    v.ops.every((op) => op in flip)
      ? { sides: [...v.sides].reverse(), ops: [...v.ops].reverse().map((op) => flip[op]!) }
      : v;
  const [p, q] = [upward(a), upward(b)];
  return p.ops.length === q.ops.length && p.ops.every((op, i) => op === q.ops[i]) &&
    p.sides.every((side, i) => scalarsEqual(side, q.sides[i]!));
}

// ---------------------------------------------------------------------------------------------

/**
 * Whether two read answers are equal (see the module doc). Must run inside a time bound when it
 * may reach the CAS.
 *
 * @param a One answer's structure.
 * @param b The other's.
 * @returns True when judged equal.
 */
export function valuesEqual(a: MathValue, b: MathValue): boolean {
  checkTimeBound();
  if (a.kind === "assign" && b.kind === "equation") {
    return proportional(`(${a.names})-(${a.rhs})`, `(${b.lhs})-(${b.rhs})`);
  }
  if (b.kind === "assign" && a.kind === "equation") return valuesEqual(b, a);
  if (a.kind === "assign") return valuesEqual(a.value, b.kind === "assign" ? b.value : b);
  if (b.kind === "assign") return valuesEqual(a, b.value);
  if (isRegionKind(a) || isRegionKind(b)) {
    if (a.kind === b.kind) {
      if (a.kind === "interval" && b.kind === "interval") {
        if (
          a.loOpen === b.loOpen && a.hiOpen === b.hiOpen && valuesEqual(a.lo, b.lo) &&
          valuesEqual(a.hi, b.hi)
        ) return true;
      } else if (a.kind === "union" && b.kind === "union") {
        if (unorderedEqual(a.parts, b.parts)) return true;
      } else if (a.kind === "member" && b.kind === "member") {
        if (valuesEqual(a.set, b.set)) return true;
      } else if (a.kind === "inequality" && b.kind === "inequality") {
        if (inequalitiesEqual(a, b)) return true;
      }
    }
    const x = regionOf(a, true);
    const y = regionOf(b, true);
    return x !== null && y !== null && regionsEqual(x, y);
  }
  switch (a.kind) {
    case "expr":
      if (b.kind === "expr") return exprsEqual(a, b);
      if (b.kind === "text") return textKey(a.latex) === b.text;
      return false;
    case "text":
      if (b.kind === "text") return a.text === b.text;
      return b.kind === "expr" && textKey(b.latex) === a.text;
    case "list":
    case "set":
      if (b.kind === "list" || b.kind === "set") return unorderedEqual(a.items, b.items);
      if (b.kind === "tuple" && a.kind === "list") return orderedEqual(a.items, b.items);
      return false;
    case "tuple":
      if (b.kind === "tuple" || b.kind === "list") return orderedEqual(a.items, b.items);
      if (b.kind === "matrix") return valuesEqual(b, a);
      return false;
    case "matrix":
      if (b.kind === "matrix") {
        return a.rows.length === b.rows.length &&
          a.rows.every((row, i) => orderedEqual(row, b.rows[i]!));
      }
      if (b.kind === "tuple") {
        const flat = a.rows.length === 1 ? a.rows[0]! : a.rows.map((row) => row[0]!);
        return (a.rows.length === 1 || a.rows.every((row) => row.length === 1)) &&
          orderedEqual(flat, b.items);
      }
      return false;
    case "equation":
      return b.kind === "equation" &&
        proportional(`(${a.lhs})-(${a.rhs})`, `(${b.lhs})-(${b.rhs})`);
    default:
      return false;
  }
}

/**
 * Whether two math answers are equivalent (see the module doc for every rule). Plain numbers are
 * compared without the computer-algebra system; anything else runs on it under the time bound.
 *
 * @example
 * ```ts ignore
 * mathAnswersEqual("\\dfrac{1}{2}", "0.5"); // true
 * mathAnswersEqual("(0,1]", "(0,1)"); // false
 * mathAnswersEqual("x \\leq 5", "5 \\geq x"); // true
 * ```
 *
 * @param prediction One answer (raw or normal form).
 * @param reference The other.
 * @param options The time bound.
 * @returns True when judged equal; false when not, when either is empty, or past the time bound.
 */
export function mathAnswersEqual(
  prediction: string,
  reference: string,
  options: MathEqualOptions = {},
): boolean {
  const x = normalizeMathAnswer(prediction);
  const y = normalizeMathAnswer(reference);
  if (x === "" || y === "") return false;
  if (x === y) return true;
  const plain = plainNumbersEqual(x, y);
  if (plain !== null) return plain;
  return withTimeBound(options.timeBoundMs ?? 2000, false, () => {
    const a = readNormal(x);
    const b = readNormal(y);
    return valuesEqual(a, b);
  });
}
