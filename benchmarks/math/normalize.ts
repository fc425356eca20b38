/**
 * The normal form of a math answer string: the notation people vary without changing the value
 * is rewritten one way, and nothing is guessed. The normal form is still LaTeX; equality is
 * decided later on expressions ({@link ./equal.ts}), so this step never drops brackets, `x =`
 * left sides or operators.
 *
 * What it rewrites, in order:
 * 1. math delimiters (`$`, `\(`, `\)`, `\[`, `\]`) and `\boxed{…}` wrappers are removed;
 * 2. spacing and sizing commands (`\left`, `\right`, `\!`, `\,`, `\;`, `\quad`, `\displaystyle`,
 *    `~`) are removed; `\dfrac`/`\tfrac`/`\cfrac` become `\frac`; `\textnormal`, `\textbf`,
 *    `\mbox`, `\mathrm`, `\textrm`, `\textit` become `\text`;
 * 3. relation spellings become one: `<=`/`\le`/`≤` → `\leq`, `>=`/`\ge`/`≥` → `\geq`,
 *    `!=`/`\ne`/`≠` → `\neq`, `\lt`/`\gt` → `<`/`>`;
 * 4. degrees (`^\circ`, `^{\circ}`, `°`) are removed; currency signs (`\$`, `€`, `£`) are removed;
 * 5. a percentage (`\%`, `%`, "percent", "pct", "percentage") is written `\%` at its number;
 * 6. thousands separators (`12{,}000`, `12,\!000`, `12,000`, `12 000` when the whole answer is that
 *    number) are removed; a comma followed by a space is a list separator, never a thousands one
 *    (`32, 349` is two numbers);
 * 7. a unit after a number or expression (`\text{ miles}`, `\text{ cm}^2`, `7 apples`,
 *    `\text{5 dollars}`) is removed;
 *    `\text{ and }`, `\text{or}` between answers become `,`;
 * 8. trailing sentence punctuation (`.`, `,`, `;`, `:`) and outer spaces are removed; runs of
 *    spaces become one; a number word standing alone ("five") becomes its digits.
 *
 * The function is idempotent: normalising a normal form returns it unchanged.
 *
 * @module
 */

const numberWords: Readonly<Record<string, string>> = {
  zero: "0",
  one: "1",
  two: "2",
  three: "3",
  four: "4",
  five: "5",
  six: "6",
  seven: "7",
  eight: "8",
  nine: "9",
  ten: "10",
  eleven: "11",
  twelve: "12",
  thirteen: "13",
  fourteen: "14",
  fifteen: "15",
  sixteen: "16",
  seventeen: "17",
  eighteen: "18",
  nineteen: "19",
  twenty: "20",
};

/** The content of the brace group that opens at `open` (the index of `{`), or null. */
export function braceGroup(text: string, open: number): { inner: string; end: number } | null {
  if (text[open] !== "{") return null;
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "\\") {
      i++;
      continue;
    }
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return { inner: text.slice(open + 1, i), end: i };
  }
  return null;
}

/** Replaces every `\name{X}` by `X` (balanced braces). */
function unwrap(text: string, name: string): string {
  let out = text;
  for (let at = out.indexOf(name); at >= 0; at = out.indexOf(name, at)) {
    const open = at + name.length;
    const brace = out.slice(open).search(/\S/);
    const group = brace >= 0 ? braceGroup(out, open + brace) : null;
    if (group === null) {
      at += name.length;
      continue;
    }
    out = out.slice(0, at) + group.inner + out.slice(group.end + 1);
  }
  return out;
}

/** A number as written: digits with an optional decimal part, or a leading-dot decimal. */
const numberPattern = String.raw`[-+]?(?:\d+(?:\.\d+)?|\.\d+)`;

/** Words after a number that are a unit or a counted noun (letters, spaces, a power). */
const trailingUnit = new RegExp(
  String
    .raw`^(${numberPattern}(?:\\%)?)\s*(?:\\text\{\s*[A-Za-z][A-Za-z .]*\}|[A-Za-z]{2,}(?:\s+[A-Za-z]+)*)(?:\^\{?[23]\}?)?$`,
);

/**
 * Normalises an answer string (see the module doc for every rewrite). Idempotent.
 *
 * @example
 * ```ts ignore
 * normalizeMathAnswer("$\\dfrac{1}{2}$."); // "\\frac{1}{2}"
 * normalizeMathAnswer("125\\textnormal{ miles}"); // "125"
 * normalizeMathAnswer("28 pct"); // "28\\%"
 * ```
 *
 * @param answer A raw answer (LaTeX or plain).
 * @returns The normal form ("" when nothing remains).
 */
export function normalizeMathAnswer(answer: string): string {
  // The rewrites can enable one another ("\\\\\\boxed"); repeat them to a fixed point.
  let s = answer;
  for (let round = 0; round < 8; round++) {
    const next = normalizeOnce(s);
    if (next === s) break;
    s = next;
  }
  return s;
}

function normalizeOnce(answer: string): string {
  let s = answer.replace(/\s+/g, " ").trim();
  // 1. delimiters and boxes
  s = s.replace(/\{,\}/g, ",").replace(/,\s*\\!\s*/g, ",");
  if (!s.includes("\\begin")) s = s.replace(/\\\\(?=[A-Za-z])/g, "\\");
  s = unwrap(s, "\\boxed");
  s = unwrap(s, "\\fbox");
  s = s.replace(/\\\$/g, "").replace(/\$/g, "");
  s = s.replace(/(?<!\\)\\[()[\]]/g, " ");
  // 2. spacing, sizing, fraction and text variants
  s = s.replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])\s*/g, "");
  s = s.replace(/(?<!\\)\\[!,;: ]/g, " ").replace(/\\q?quad(?![A-Za-z])/g, " ").replace(/~/g, " ");
  s = s.replace(/\\displaystyle(?![A-Za-z])/g, "");
  s = s.replace(/\\[dtc]frac(?![A-Za-z])/g, "\\frac").replace(/\\[dt]binom/g, "\\binom");
  s = s.replace(/\\(?:textnormal|textbf|textrm|textit|mbox|mathrm)(?![A-Za-z])/g, "\\text");
  // 3. relations
  s = s.replace(/<=|≤|\\leqslant|\\le(?![A-Za-z])/g, "\\leq ").replace(
    />=|≥|\\geqslant|\\ge(?![A-Za-z])/g,
    "\\geq ",
  );
  s = s.replace(/!=|≠|\\ne(?![A-Za-z])/g, "\\neq ").replace(/\\lt(?![A-Za-z])/g, "<").replace(
    /\\gt(?![A-Za-z])/g,
    ">",
  );
  // 4. degrees and currency
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°|\\degree(?![A-Za-z])/g, "");
  s = s.replace(/[€£]/g, "");
  // 5. percentages
  s = s.replace(/\\text\{\s*(?:percent|percentage|pct)\s*\}/gi, "\\%");
  s = s.replace(/(\d)\s*(?:percentage|percent|pct)(?![A-Za-z])/gi, "$1\\%");
  s = s.replace(/\s*\\?%/g, "\\%");
  // 6. thousands separators
  s = s.replace(
    /(?<![\d.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])/g,
    (m, at: number, all: string) =>
      /[([{,]\s*$/.test(all.slice(0, at)) || /^\s*[)\]},]/.test(all.slice(at + m.length))
        ? m
        : m.replaceAll(",", ""),
  );
  if (/^[-+]?\d{1,3}(?: \d{3})+(?:\.\d+)?$/.test(s)) s = s.replaceAll(" ", "");
  // 7. units and joining words
  s = s.replace(/\s*\\text\{\s*(?:and|or)\s*\}\s*/g, ", ").replace(/\s+(?:and|or)\s+/g, ", ");
  // 8. punctuation, spaces, number words
  for (;;) {
    let cut = s.replace(/\s+/g, " ").trim();
    cut = cut.replace(/(?<!\.)[.,;:]$/, "").replace(/(?<!\\)\\$/, "").trim();
    const unit = trailingUnit.exec(cut);
    if (unit !== null) cut = unit[1]!;
    const text = /^(.*[^\s=+\-*/^_{(,])\s*\\text\{\s*[A-Za-z][A-Za-z .]*\}(?:\^\{?[23]\}?)?$/.exec(
      cut,
    );
    if (text !== null) cut = text[1]!.trim();
    if (/^\{[^{}]*\}$/.test(cut)) cut = cut.slice(1, -1).trim();
    const said = /^\\text\{\s*([-+]?[\d.]+)\s+[A-Za-z][A-Za-z ]*\}$/.exec(cut);
    if (said !== null) cut = said[1]!;
    if (cut === s) break;
    s = cut;
  }
  s = s.replace(/(^|[^\d])\.(\d)/g, "$10.$2");
  const word = numberWords[s.toLowerCase()];
  return word ?? s;
}
