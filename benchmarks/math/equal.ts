/**
 * Equivalence of two math answers without a computer-algebra system, after the order of the
 * Qwen2.5-Math grader (`math_equal`, written here from its description):
 * 1. case-insensitive equality of the normalised strings;
 * 2. numeric equality within a relative tolerance of 1e-4, also accepting the percentage variants
 *    ref/100 and ref×100 when both sides are plain numbers;
 * 3. the values of simple constant LaTeX expressions (`\frac`, `\sqrt`, `\pi`, `\cdot`, `^`,
 *    parentheses), compared numerically;
 * 4. tuples and intervals, element by element; brackets and braces ignored otherwise.
 *
 * @module
 */
import { normalizeMathAnswer } from "./answer.ts";

const relativeTolerance = 1e-4;

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= relativeTolerance * Math.max(Math.abs(a), Math.abs(b)) ||
    (a === 0 && b === 0);
}

/**
 * Parses a plain number: thousands separators (`1,000`, `1{,}000`), a trailing `%` (divided by
 * 100), a leading `+`. Null when the text is not a plain number.
 *
 * @param text An answer string.
 * @returns Its value, or null.
 */
export function parsePlainNumber(text: string): number | null {
  let s = text.trim().replaceAll("{,}", ",").replaceAll("\\%", "%").replaceAll(" ", "");
  let scale = 1;
  if (s.endsWith("%")) {
    s = s.slice(0, -1);
    scale = 0.01;
  }
  if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replaceAll(",", "");
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return null;
  return Number(s) * scale;
}

/** A tiny recursive-descent evaluator of constant LaTeX arithmetic; throws on anything else. */
class Evaluator {
  #text: string;
  #at = 0;
  constructor(text: string) {
    this.#text = text;
  }
  static run(text: string): number | null {
    try {
      const e = new Evaluator(text);
      const value = e.sum();
      return e.#at === e.#text.length && Number.isFinite(value) ? value : null;
    } catch {
      return null;
    }
  }
  #peek(): string {
    return this.#text[this.#at] ?? "";
  }
  #eat(token: string): boolean {
    if (this.#text.startsWith(token, this.#at)) {
      this.#at += token.length;
      return true;
    }
    return false;
  }
  #expect(token: string): void {
    if (!this.#eat(token)) throw new Error(`expected ${token}`);
  }
  sum(): number {
    let value = this.product();
    for (;;) {
      if (this.#eat("+")) value += this.product();
      else if (this.#eat("-")) value -= this.product();
      else return value;
    }
  }
  product(): number {
    let value = this.unary();
    for (;;) {
      if (this.#eat("\\cdot") || this.#eat("\\times") || this.#eat("*")) value *= this.unary();
      else if (this.#eat("/") || this.#eat("\\div")) value /= this.unary();
      else if (/[0-9.({\\]/.test(this.#peek()) && !this.#text.startsWith("\\right", this.#at)) {
        value *= this.unary(); // implicit product: 2\sqrt{3}, 3\pi, 2(1+1)
      } else return value;
    }
  }
  unary(): number {
    if (this.#eat("-")) return -this.unary();
    if (this.#eat("+")) return this.unary();
    return this.power();
  }
  power(): number {
    const base = this.atom();
    if (this.#eat("^")) return base ** this.atom();
    return base;
  }
  #group(): number {
    this.#expect("{");
    const value = this.sum();
    this.#expect("}");
    return value;
  }
  atom(): number {
    const number = /^(\d+\.?\d*|\.\d+)/.exec(this.#text.slice(this.#at));
    if (number) {
      this.#at += number[0].length;
      return Number(number[0]);
    }
    if (this.#peek() === "{") return this.#group();
    if (this.#eat("(")) {
      const value = this.sum();
      this.#expect(")");
      return value;
    }
    if (this.#eat("\\frac")) return this.#group() / this.#group();
    if (this.#eat("\\sqrt")) {
      if (this.#eat("[")) {
        const n = this.sum();
        this.#expect("]");
        return this.#group() ** (1 / n);
      }
      return Math.sqrt(this.#group());
    }
    if (this.#eat("\\pi")) return Math.PI;
    throw new Error("unexpected token");
  }
}

/**
 * The value of a simple constant expression (`\frac{\sqrt{3}}{2}`, `2\pi`, `3^2`, `-0.5`), or null
 * when it is not one. No symbols, no CAS.
 *
 * @param text A normalised answer.
 * @returns Its value, or null.
 */
export function evaluateConstant(text: string): number | null {
  const plain = parsePlainNumber(text);
  if (plain !== null) return plain;
  const s = text.replaceAll(" ", "").replaceAll("\\left", "").replaceAll("\\right", "")
    .replaceAll("dfrac", "frac").replaceAll("tfrac", "frac");
  if (s === "" || /[A-Za-z]/.test(s.replace(/\\(frac|sqrt|pi|cdot|times|div)/g, ""))) return null;
  return Evaluator.run(s);
}

function splitTuple(text: string): string[] | null {
  if (!/^[([].*[)\]]$/.test(text)) return null;
  const inner = text.slice(1, -1);
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch === "{" || ch === "(" || ch === "[") depth++;
    else if (ch === "}" || ch === ")" || ch === "]") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  return parts.length > 1 ? parts : null;
}

function equalNormalised(a: string, b: string, depth: number): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  const x = parsePlainNumber(a);
  const y = parsePlainNumber(b);
  if (x !== null && y !== null) {
    return close(x, y) || close(x, y / 100) || close(x, y * 100);
  }
  const u = evaluateConstant(a);
  const v = evaluateConstant(b);
  if (u !== null && v !== null) return close(u, v);
  const strip = (s: string) => s.replace(/[{}()[\]]/g, "").toLowerCase();
  if (strip(a) === strip(b) && strip(a) !== "") return true;
  if (depth < 2) {
    const p = splitTuple(a);
    const q = splitTuple(b);
    if (p && q && p.length === q.length) {
      return p.every((part, i) =>
        equalNormalised(normalizeMathAnswer(part), normalizeMathAnswer(q[i]!), depth + 1)
      );
    }
  }
  return false;
}

/**
 * Whether two math answers are equivalent: normalised string equality, numeric equality within
 * 1e-4 relative (with percentage variants for plain numbers), values of simple LaTeX constants
 * (`\frac`, `\dfrac`, `\sqrt`, `\pi`), thousands separators, degrees and text units, and tuples
 * element by element. No computer algebra: `x+1` and `1+x` are not recognised as equal.
 *
 * @example
 * ```ts ignore
 * mathAnswersEqual("\\dfrac{1}{2}", "0.5"); // true
 * mathAnswersEqual("1,000", "1000"); // true
 * ```
 *
 * @param a One answer (raw or normalised).
 * @param b The other.
 * @returns True when they are judged equal.
 */
export function mathAnswersEqual(a: string, b: string): boolean {
  const x = normalizeMathAnswer(a);
  const y = normalizeMathAnswer(b);
  if (x === "" || y === "") return x === y && a.trim() === b.trim() && a.trim() !== "";
  return equalNormalised(x, y, 0) || equalNormalised(a.trim(), b.trim(), 0);
}
