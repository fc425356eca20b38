/**
 * The structure of a math answer: what kind of object a normal form ({@link normalizeMathAnswer})
 * writes, read before any value is compared. Brackets are kept: `(0, 1)` is a pair (or an open
 * interval), `[0, 1]` and `(0, 1]` are intervals, `\{1, 2\}` is a set, `1, 2` is a bare list of
 * several answers.
 *
 * Reading order (the first that applies, on the top level of the text, outside brackets):
 * 1. commas: several answers, a bare list (`-2, 1`);
 * 2. `\cup`: a union of intervals or sets;
 * 3. `\in`: `x \in S`, a variable in a set;
 * 4. relations (`=`, `\approx`, `<`, `>`, `\leq`, `\geq`, `\neq`), possibly chained: an equation,
 *    an assignment when a side other than the last is a bare name (`x = 3`, `(p,q) = (3,2)`,
 *    `x = 5 + 6 = 11`; its value is the last side, and a `\approx` after an `=` ends the chain;
 *    a chain of constants, `2 + 3 = 5`, states its last side too), or an inequality;
 * 5. `a \pm b`: the two values a + b and a − b;
 * 6. a matrix environment (`pmatrix`, `bmatrix`, `array`, …), also inside parentheses;
 * 7. a bracketed group: `\{…\}` a set; `(a, b)` a pair; `[a, b]`, `(a, b]`, `[a, b)` intervals;
 *    other bracketed lists are tuples; `(x)` is x;
 * 8. `\text{…}` alone, or words, is a text answer; anything else is a scalar expression, with a
 *    trailing `\%` marking a percentage.
 *
 * @module
 */
import { normalizeMathAnswer } from "./normalize.ts";

/** A read answer. */
export type MathValue =
  | { readonly kind: "expr"; readonly latex: string; readonly percent: boolean }
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "list"; readonly items: ReadonlyArray<MathValue> }
  | { readonly kind: "set"; readonly items: ReadonlyArray<MathValue> }
  | { readonly kind: "tuple"; readonly items: ReadonlyArray<MathValue>; readonly open: string }
  | {
    readonly kind: "interval";
    readonly lo: MathValue;
    readonly hi: MathValue;
    readonly loOpen: boolean;
    readonly hiOpen: boolean;
  }
  | { readonly kind: "union"; readonly parts: ReadonlyArray<MathValue> }
  | { readonly kind: "member"; readonly variable: string; readonly set: MathValue }
  | {
    readonly kind: "assign";
    readonly names: string;
    readonly value: MathValue;
    readonly rhs: string;
  }
  | { readonly kind: "equation"; readonly lhs: string; readonly rhs: string }
  | {
    readonly kind: "inequality";
    readonly sides: ReadonlyArray<string>;
    readonly ops: ReadonlyArray<string>;
  }
  | { readonly kind: "matrix"; readonly rows: ReadonlyArray<ReadonlyArray<MathValue>> };

/**
 * Splits text at a separator that stands on the top level (outside (), [], {}, `\{…\}` and
 * `\begin…\end`). Returns one part when the separator does not occur there.
 *
 * @param text The text.
 * @param separator A literal separator, or a regular expression that must match at a position.
 * @returns The parts (trimmed) and the separators found between them.
 */
export function splitTopLevel(
  text: string,
  separator: string | RegExp,
): { parts: string[]; separators: string[] } {
  const parts: string[] = [];
  const separators: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const rest = text.slice(i);
    if (rest.startsWith("\\begin{")) depth++;
    else if (rest.startsWith("\\end{")) depth--;
    const ch = text[i]!;
    if (ch === "\\" && /^\\[{}]/.test(rest)) {
      depth += rest[1] === "{" ? 1 : -1;
      i++;
      continue;
    }
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth--;
    else if (depth === 0) {
      let found: string | null = null;
      if (typeof separator === "string") {
        if (rest.startsWith(separator)) found = separator;
      } else {
        const m = separator.exec(rest);
        if (m && m.index === 0) found = m[0];
      }
      if (found !== null) {
        parts.push(text.slice(start, i).trim());
        separators.push(found.trim());
        i += found.length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start).trim());
  return { parts, separators };
}

/** Whether the opening bracket at 0 closes at the very end (one group spans the text). */
function spansWhole(text: string): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\\" && /^\\[{}]/.test(text.slice(i))) {
      depth += text[i + 1] === "{" ? 1 : -1;
      i++;
      if (depth === 0 && i < text.length - 1) return false;
      continue;
    }
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") {
      depth--;
      if (depth === 0 && i < text.length - 1) return false;
    }
  }
  return depth === 0;
}

/** A bare name: a letter, a Greek letter or command, with an optional subscript; or `f(x)`. */
const namePattern = /^(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?(?:'+)?(?:\([A-Za-z, ]*\))?$/;

/** Whether a side is a bare name, or a tuple of names (`(p, q)`). */
function isName(side: string): boolean {
  const s = side.trim();
  if (namePattern.test(s) && !/^\\(?:pi|infty|emptyset)$/.test(s)) return true;
  const tuple = /^\((.*)\)$/.exec(s);
  return tuple !== null && tuple[1]!.split(",").every((p) => namePattern.test(p.trim()));
}

const relationPattern = /\\leq|\\geq|\\neq|\\approx|<|>|=/;

function parseMatrix(text: string): MathValue | null {
  const m = /^\\begin\{(p|b|v|B|V|small)?matrix\}(.*)\\end\{\1?matrix\}$/s.exec(text) ??
    /^\\begin\{array\}\{[^}]*\}(.*)\\end\{array\}$/s.exec(text);
  if (m === null) return null;
  const body = (m.length === 3 ? m[2] : m[1])!.trim().replace(/\\\\\s*$/, "");
  const rows = body.split(/\\\\/).map((row) => row.split("&").map((cell) => readNormal(cell)));
  if (rows.some((row) => row.length !== rows[0]!.length)) return null;
  return { kind: "matrix", rows };
}

/**
 * Reads a normal form into its structure (see the module doc for the order).
 *
 * @param normal A normal form (see {@link normalizeMathAnswer}).
 * @returns The structure.
 */
export function readNormal(normal: string): MathValue {
  const s = normal.trim();
  const commas = splitTopLevel(s, ",");
  if (commas.parts.length > 1) {
    return { kind: "list", items: commas.parts.filter((p) => p !== "").map(readNormal) };
  }
  const unions = splitTopLevel(s, /\\cup(?![A-Za-z])/);
  if (unions.parts.length > 1) return { kind: "union", parts: unions.parts.map(readNormal) };
  const member = splitTopLevel(s, /\\in(?![A-Za-z])/);
  if (member.parts.length === 2) {
    return { kind: "member", variable: member.parts[0]!, set: readNormal(member.parts[1]!) };
  }
  const relation = splitTopLevel(s, relationPattern);
  if (relation.parts.length > 1) return readRelation(relation.parts, relation.separators);
  const pm = splitTopLevel(s, /\\pm(?![A-Za-z])/);
  if (pm.parts.length === 2) {
    const [a, b] = [pm.parts[0] || "0", pm.parts[1]!];
    return {
      kind: "list",
      items: [readNormal(`${a}+(${b})`), readNormal(`${a}-(${b})`)],
    };
  }
  const matrix = parseMatrix(s) ??
    (/^\(\s*\\begin.*\\end\{[a-z]*\}\s*\)$/s.test(s) ? parseMatrix(s.slice(1, -1).trim()) : null);
  if (matrix !== null) return matrix;
  if (s.startsWith("\\{") && s.endsWith("\\}") && spansWhole(s)) {
    const inner = s.slice(2, -2).trim();
    if (inner === "") return { kind: "set", items: [] };
    return { kind: "set", items: splitTopLevel(inner, ",").parts.map(readNormal) };
  }
  if (/^\\(?:emptyset|varnothing)$/.test(s)) return { kind: "set", items: [] };
  const open = s[0];
  const close = s.at(-1);
  if ((open === "(" || open === "[") && (close === ")" || close === "]") && spansWhole(s)) {
    const inner = s.slice(1, -1).trim();
    const items = splitTopLevel(inner, ",").parts;
    if (items.length === 1) {
      return open === "(" && close === ")" ? readNormal(inner) : readExpression(s);
    }
    if (items.length === 2 && !(open === "(" && close === ")")) {
      return {
        kind: "interval",
        lo: readNormal(items[0]!),
        hi: readNormal(items[1]!),
        loOpen: open === "(",
        hiOpen: close === ")",
      };
    }
    return { kind: "tuple", items: items.map(readNormal), open: `${open}${close}` };
  }
  return readExpression(s);
}

function readRelation(parts: string[], ops: string[]): MathValue {
  // A \approx after an = ends the chain: "x = 1/3 \approx 0.33" is x = 1/3.
  const approx = ops.indexOf("\\approx");
  if (approx > 0 && ops.slice(0, approx).includes("=")) {
    parts = parts.slice(0, approx + 1);
    ops = ops.slice(0, approx);
  }
  const equalities = ops.every((op) => op === "=" || op === "\\approx");
  if (equalities) {
    const named = parts.slice(0, -1).findIndex(isName);
    if (named >= 0) {
      const rhs = parts.at(-1)!;
      return { kind: "assign", names: parts[named]!, value: readNormal(rhs), rhs };
    }
    if (!parts.some((p) => /[A-Za-z]/.test(p.replace(/\\(?:frac|sqrt|cdot|times|pi)/g, "")))) {
      // A chain of constants ("\frac{1}{2} = 0.5 = 50\%") states its last side.
      const rhs = parts.at(-1)!;
      return { kind: "assign", names: "", value: readNormal(rhs), rhs };
    }
    return { kind: "equation", lhs: parts[0]!, rhs: parts.at(-1)! };
  }
  return { kind: "inequality", sides: parts, ops };
}

function readExpression(s: string): MathValue {
  const text = /^\\text\{([^{}]*)\}$/.exec(s);
  if (text) return { kind: "text", text: textKey(text[1]!) };
  if (/^[A-Za-z][A-Za-z' -]*[A-Za-z]$/.test(s) && /[a-z]{3}/i.test(s) && s.length >= 3) {
    return { kind: "text", text: textKey(s) };
  }
  if (/^\([A-Z]\)$/.test(s)) return { kind: "text", text: s[1]!.toLowerCase() };
  const percent = /\\%$/.test(s);
  const latex = percent ? s.slice(0, -2).trim() : s;
  return { kind: "expr", latex, percent };
}

/** The comparison key of a text answer: lowercase, no parentheses, spaces collapsed. */
export function textKey(text: string): string {
  return text.replace(/[()]/g, "").replace(/\s+/g, " ").trim().toLowerCase();
}

/**
 * Normalises and reads an answer.
 *
 * @example
 * ```ts ignore
 * readMathValue("(0, 1]").kind; // "interval"
 * readMathValue("x = 3").kind; // "assign"
 * ```
 *
 * @param answer A raw answer.
 * @returns Its structure.
 */
export function readMathValue(answer: string): MathValue {
  return readNormal(normalizeMathAnswer(answer));
}
