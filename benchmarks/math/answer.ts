/**
 * Final-answer extraction from a math completion, in one of two named modes.
 *
 * `"qwen"` (default) follows the order of the Qwen2.5-Math evaluation harness (`parser.py`
 * `extract_answer`, written here from its description):
 * 1. the Minerva form "final answer is $X$. I hope" (its first occurrence);
 * 2. the last `\boxed{…}` (brace-matched; `\boxed X` up to the next `$`), read together with the
 *    boxes just before it when only joining words stand between them (`\boxed{1} and \boxed{2}`
 *    reads `1, 2`);
 * 3. "…he answer is X", then "final answer is X" (the last occurrence), X ending at the end of its
 *    sentence: `The answer is 7 apples.` reads `7 apples` (the unit goes in normalisation);
 * 4. the last matrix environment (`\begin{pmatrix}…\end{pmatrix}`); an addition to Qwen's order,
 *    whose last-number rule would read one cell of it;
 * 5. the last number, or simple fraction `a/b` (Qwen reads only a number: `2/3` gave `3`), read
 *    with the whole math span (`$…$`, `\(…\)`, `\[…\]`) it stands in: `Therefore $x \geq 5$ is the
 *    solution.` reads `x \geq 5`, where Qwen reads `5`.
 *
 * `"strict"` reads only an answer the completion marks as its answer: the last run of `\boxed{…}`,
 * or else the last "answer is X" statement; no Minerva preference and no number fallback.
 *
 * On a self-correcting solution ("… The final answer is $[-3, 2]$. I hope it is correct. I apologise
 * … the domain is $\boxed{(-\infty, -3] \cup [2, \infty)}$"), `"qwen"` reads the first Minerva
 * statement (the uncorrected answer) when there is one, else the last box (the correction);
 * `"strict"` always reads the last box, the correction.
 *
 * @module
 */
import { braceGroup, normalizeMathAnswer } from "./normalize.ts";

/** The extraction modes (see the module doc). */
export type ExtractionMode = "qwen" | "strict";

/** A `\boxed` found in a text: its content and where it starts and ends. */
interface Box {
  readonly content: string;
  readonly start: number;
  readonly end: number;
}

function boxesOf(text: string): Box[] {
  const boxes: Box[] = [];
  for (let at = text.indexOf("\\boxed"); at >= 0; at = text.indexOf("\\boxed", at + 1)) {
    const after = at + "\\boxed".length;
    const brace = text.slice(after).search(/\S/);
    if (brace >= 0 && text[after + brace] === "{") {
      const group = braceGroup(text, after + brace);
      if (group === null) {
        boxes.push({ content: text.slice(after + brace + 1), start: at, end: text.length });
      } else boxes.push({ content: group.inner, start: at, end: group.end + 1 });
    } else if (/^\s/.test(text.slice(after))) {
      const rest = text.slice(after);
      const stop = rest.search(/\$/);
      const content = stop < 0 ? rest : rest.slice(0, stop);
      boxes.push({ content: content.trim(), start: at, end: after + content.length });
    }
  }
  return boxes;
}

/** Words and marks that may stand between boxes that are read together. */
const joiner = /^(?:\s|\$|,|;|\.|\\text\{\s*(?:and|or|,)\s*\}|\\quad|\\qquad|and|or|\\\(|\\\))*$/;

/**
 * The content of the last `\boxed` in a text, read together with the boxes just before it that
 * only joining words separate from it (joined with ", "). Null when the text has no box.
 *
 * @example
 * ```ts ignore
 * extractBoxed("so \\boxed{\\frac{1}{2}}."); // "\\frac{1}{2}"
 * extractBoxed("\\boxed{(2,2)} \\text{ and } \\boxed{(6,2)}"); // "(2,2), (6,2)"
 * ```
 *
 * @param text A completion.
 * @returns The raw boxed content, or null.
 */
export function extractBoxed(text: string): string | null {
  const boxes = boxesOf(text);
  if (boxes.length === 0) return null;
  const run = [boxes.at(-1)!];
  for (let i = boxes.length - 2; i >= 0; i--) {
    const between = text.slice(boxes[i]!.end, run[0]!.start);
    if (between.length > 40 || !joiner.test(between)) break;
    run.unshift(boxes[i]!);
  }
  return run.map((box) => box.content.trim()).join(", ");
}

/** The text after the last `marker`, up to the end of its sentence; null when absent. */
function statementAfter(text: string, marker: string): { value: string; at: number } | null {
  const at = text.lastIndexOf(marker);
  if (at < 0) return null;
  const rest = text.slice(at + marker.length).replace(/^\s*[:：]?\s*/, "");
  const value = untilSentenceEnd(rest);
  return { value, at };
}

/** A statement cut at its sentence's end: a period, `!` or `?` outside math and not in a number. */
function untilSentenceEnd(rest: string): string {
  let inMath = false;
  let depth = 0;
  for (let i = 0; i < rest.length; i++) {
    const ch = rest[i]!;
    if (ch === "$") inMath = !inMath;
    else if (ch === "{") depth++;
    else if (ch === "}") depth--;
    else if (!inMath && depth <= 0) {
      if (ch === "\n" && rest[i + 1] === "\n") return rest.slice(0, i).trim();
      const next = rest[i + 1];
      if ((ch === "." || ch === "!" || ch === "?") && (next === undefined || /\s/.test(next))) {
        return rest.slice(0, i).trim();
      }
    }
  }
  return rest.trim();
}

function lastMatrix(text: string): string | null {
  const matches = [
    ...text.matchAll(/\\begin\{([pbvBV]?matrix|array)\}[\s\S]*?\\end\{\1\}/g),
  ];
  return matches.at(-1)?.[0] ?? null;
}

/** The math spans of a text: `$$…$$`, `$…$` (one line), `\(…\)` (one line), `\[…\]`. */
function mathSpans(text: string): Array<{ start: number; end: number; inner: string }> {
  const spans: Array<{ start: number; end: number; inner: string }> = [];
  const pattern = /\$\$([\s\S]+?)\$\$|\$([^$\n]+?)\$|\\\(([^\n]+?)\\\)|\\\[([\s\S]+?)\\\]/g;
  // An escaped dollar (`\$5`) is a currency sign, not a delimiter: mask it, keep the indices.
  const masked = text.replaceAll("\\$", "\uE000\uE000");
  for (const m of masked.matchAll(pattern)) {
    const inner = text.slice(m.index! + m[0].indexOf(m[1] ?? m[2] ?? m[3] ?? m[4] ?? ""))
      .slice(0, (m[1] ?? m[2] ?? m[3] ?? m[4] ?? "").length);
    spans.push({ start: m.index!, end: m.index! + m[0].length, inner });
  }
  return spans;
}

/** The last number or simple fraction, widened to the math span it stands in. */
function lastNumber(text: string): string | null {
  const numbers = [
    ...text.matchAll(/-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d*\.?\d+(?:\s*\/\s*\d+)?/g),
  ];
  const last = numbers.at(-1);
  if (last === undefined) return null;
  const span = mathSpans(text).find((s) => s.start <= last.index! && last.index! < s.end);
  if (span !== undefined && span.inner.trim() !== "") return span.inner.trim();
  return last[0].replaceAll(",", "").replace(/\s+/g, "");
}

/**
 * Extracts the raw final answer of a completion (before normalisation), or null when the mode
 * finds none.
 *
 * @param text A completion.
 * @param mode `"qwen"` (default) or `"strict"` (see the module doc).
 * @returns The raw answer text, or null.
 */
export function extractRawMathAnswer(text: string, mode: ExtractionMode = "qwen"): string | null {
  if (mode === "strict") {
    const boxed = extractBoxed(text);
    if (boxed !== null) return boxed;
    return statementAfter(text, "answer is")?.value ?? null;
  }
  const minerva = text.indexOf("final answer is $");
  if (minerva >= 0 && text.includes("$. I hope")) {
    const tail = text.slice(minerva + "final answer is $".length);
    return (tail.split("$. I hope")[0] ?? "").trim();
  }
  const boxed = extractBoxed(text);
  if (boxed !== null) return boxed;
  const said = statementAfter(text, "he answer is") ?? statementAfter(text, "final answer is");
  if (said !== null && said.value !== "") return said.value;
  return lastMatrix(text) ?? lastNumber(text);
}

/**
 * Extracts and normalises the final answer of a math completion. Returns null when no answer is
 * found or it normalises to "".
 *
 * @example
 * ```ts ignore
 * extractMathAnswer("Thus $x = \\boxed{\\dfrac{1}{2}}$."); // "\\frac{1}{2}"
 * extractMathAnswer("The final answer is 5. I hope it is correct."); // "5"
 * ```
 *
 * @param text A completion.
 * @param mode `"qwen"` (default) or `"strict"` (see the module doc).
 * @returns The normal form of the answer, or null.
 */
export function extractMathAnswer(text: string, mode: ExtractionMode = "qwen"): string | null {
  const raw = extractRawMathAnswer(text, mode);
  if (raw === null) return null;
  const normal = normalizeMathAnswer(raw);
  return normal === "" ? null : normal;
}

export { normalizeMathAnswer };
