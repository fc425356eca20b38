/**
 * Final-answer extraction for math completions, in the order of the Qwen2.5-Math evaluation
 * harness (`parser.py` `extract_answer`, as described in its docs; written here from that
 * description), followed by a string normalisation in the spirit of its `strip_string`.
 *
 * Extraction order:
 * 1. Minerva form "final answer is $X$. I hope";
 * 2. the last `\boxed{…}` with brace matching, or `\boxed X` up to the next `$`;
 * 3. "…he answer is X";
 * 4. "final answer is X";
 * 5. the last number `-?\d*\.?\d+` after removing commas.
 *
 * @module
 */

/**
 * The content of the last `\boxed` in a text: `\boxed{…}` with nested braces matched, or
 * `\boxed X` (no brace) up to the next `$`. Null when the text has no `boxed`.
 *
 * @example
 * ```ts ignore
 * extractBoxed("so \\boxed{\\frac{1}{2}}."); // "\\frac{1}{2}"
 * ```
 *
 * @param text A completion.
 * @returns The raw boxed content, or null.
 */
export function extractBoxed(text: string): string | null {
  const at = text.lastIndexOf("boxed");
  if (at < 0) return null;
  const rest = text.slice(at + "boxed".length);
  if (rest.startsWith("{")) {
    let depth = 1;
    let out = "";
    for (const ch of rest.slice(1)) {
      if (ch === "{") depth++;
      else if (ch === "}" && --depth === 0) return out;
      out += ch;
    }
    return out; // unbalanced: everything after the brace
  }
  return (rest.split("$")[0] ?? "").trim();
}

function afterLast(text: string, marker: string): string | null {
  const at = text.lastIndexOf(marker);
  return at < 0 ? null : text.slice(at + marker.length).trim();
}

/**
 * Extracts the raw final answer of a completion (before normalisation), or null when none of the
 * five rules applies.
 *
 * @param text A completion.
 * @returns The raw answer text, or null.
 */
export function extractRawMathAnswer(text: string): string | null {
  const minerva = text.indexOf("final answer is $");
  if (minerva >= 0 && text.includes("$. I hope")) {
    const tail = text.slice(minerva + "final answer is $".length);
    return (tail.split("$. I hope")[0] ?? "").trim();
  }
  if (text.includes("boxed")) return extractBoxed(text);
  const said = afterLast(text, "he answer is") ?? afterLast(text, "final answer is");
  if (said !== null) return said;
  const numbers = text.replaceAll(",", "").match(/-?\d*\.?\d+/g);
  return numbers ? numbers[numbers.length - 1]! : null;
}

/**
 * Extracts and normalises the final answer of a math completion (Qwen2.5-Math order, see the
 * module doc). Returns null when no answer is found or it normalises to "".
 *
 * @example
 * ```ts ignore
 * extractMathAnswer("Thus $x = \\boxed{\\dfrac{1}{2}}$."); // "\\frac{1}{2}"
 * extractMathAnswer("The answer is 1,000."); // "1,000"
 * ```
 *
 * @param text A completion.
 * @returns The normalised answer, or null.
 */
export function extractMathAnswer(text: string): string | null {
  const raw = extractRawMathAnswer(text);
  if (raw === null) return null;
  let answer = raw.replace(/\n\s*/g, "");
  if (answer.startsWith(":")) answer = answer.slice(1);
  if (answer.endsWith(".") || answer.endsWith("/")) answer = answer.slice(0, -1);
  const normal = normalizeMathAnswer(answer);
  return normal === "" ? null : normal;
}

/** Unit words removed from an answer when something else remains (whole words only). */
const unitWords: ReadonlyArray<string> = [
  "degrees?",
  "cm",
  "mm",
  "km",
  "meters?",
  "metres?",
  "inches",
  "inch",
  "feet",
  "foot",
  "ft",
  "miles?",
  "yards?",
  "units?",
  "square units",
  "sq units",
  "dollars?",
  "cents?",
  "hours?",
  "minutes?",
  "seconds?",
  "days?",
  "weeks?",
  "months?",
  "years?",
  "mph",
  "kg",
  "grams?",
  "pounds?",
  "liters?",
  "litres?",
  "gallons?",
  "percent",
  "people",
  "students",
  "ways",
  "points?",
  "cubic",
  "square",
];

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

/** Braces `\sqrt2` → `\sqrt{2}`. */
function fixSqrt(text: string): string {
  return text.replace(/\\sqrt(?![{[])\s*(\w)/g, "\\sqrt{$1}");
}

/** Braces `\frac12`, `\frac1{2}`, `\frac{1}2` → `\frac{1}{2}`. */
function fixFracs(text: string): string {
  const parts = text.split("\\frac");
  let out = parts[0] ?? "";
  for (const part of parts.slice(1)) {
    out += "\\frac";
    if (part.startsWith("{")) {
      // numerator braced; brace a bare one-character denominator
      let depth = 0;
      let end = -1;
      for (let i = 0; i < part.length; i++) {
        if (part[i] === "{") depth++;
        else if (part[i] === "}" && --depth === 0) {
          end = i;
          break;
        }
      }
      if (end < 0 || end + 1 >= part.length || part[end + 1] === "{") {
        out += part;
      } else {
        out += `${part.slice(0, end + 1)}{${part[end + 1]}}${part.slice(end + 2)}`;
      }
    } else if (part.length >= 2) {
      const a = part[0]!;
      if (part[1] === "{") out += `{${a}}${part.slice(1)}`;
      else out += `{${a}}{${part[1]}}${part.slice(2)}`;
    } else {
      out += part;
    }
  }
  return out;
}

/** `3/4` (two integers) → `\frac{3}{4}`. */
function fixSlash(text: string): string {
  const m = /^(-?\d+)\/(\d+)$/.exec(text);
  return m ? `\\frac{${m[1]}}{${m[2]}}` : text;
}

/**
 * Normalises an answer string in the spirit of Qwen2.5-Math's `strip_string`: strips newlines and
 * a trailing ".", removes `\left`/`\right`, `\!`, `$`, degrees, `\%`/`%`, text units and
 * `\text{}` wrappers; turns `tfrac`/`dfrac` into `frac`; drops a short "x =" left side; braces
 * `\sqrt` and `\frac` arguments; rewrites `a/b` of integers as `\frac{a}{b}`; drops trailing
 * zeros after a decimal point and all spaces.
 *
 * @param answer A raw answer.
 * @returns The normalised answer ("" when nothing remains).
 */
export function normalizeMathAnswer(answer: string): string {
  let s = answer.trim().replaceAll("\n", "");
  s = s.replace(/\.+$/, "");
  s = s.replaceAll("\\!", "");
  s = s.replace(/\\begin\{array\}\{[^}]*\}/g, "\\begin{pmatrix}").replace(
    /\\end\{array\}/g,
    "\\end{pmatrix}",
  );
  s = s.replaceAll("bmatrix", "pmatrix");
  s = s.replaceAll("tfrac", "frac").replaceAll("dfrac", "frac");
  s = s.replaceAll("\\neq", "\\ne").replaceAll("\\leq", "\\le").replaceAll("\\geq", "\\ge");
  s = s.replaceAll("\\left", "").replaceAll("\\right", "");
  s = s.replaceAll("\\{", "{").replaceAll("\\}", "}");
  // a trailing \text{…} is a unit when something remains
  const noTrailingText = s.replace(/\\(?:text|textbf|mbox|mathrm)\{[^}]*\}$/, "").trim();
  if (noTrailingText !== "" && noTrailingText !== s) s = noTrailingText;
  for (const unit of unitWords) {
    const stripped = s.replace(new RegExp(`(^|[^A-Za-z])${unit}(?![A-Za-z])`, "g"), "$1").trim();
    if (stripped !== "" && /[0-9]/.test(stripped)) s = stripped;
  }
  s = s.replaceAll("^{\\circ}", "").replaceAll("^\\circ", "").replaceAll("°", "");
  s = s.replaceAll("\\$", "").replaceAll("$", "");
  s = s.replaceAll("\\(", "").replaceAll("\\)", "");
  const word = numberWords[s.trim().toLowerCase()];
  if (word !== undefined) s = word;
  s = s.replace(/\\(?:text|textbf|mbox|mathrm)\{([^}]*)\}/g, "$1");
  for (const key of ["x=", "y=", "z=", "x\\in", "y\\in", "z\\in", "x\\to", "y\\to", "z\\to"]) {
    s = s.replaceAll(key, "");
  }
  s = s.replaceAll("\\emptyset", "{}");
  s = s.replaceAll("\\%", "").replaceAll("%", "");
  s = s.replaceAll(" .", " 0.").replaceAll("{.", "{0.");
  if (s.trim() === "") return "";
  if (s.startsWith(".")) s = `0${s}`;
  if (/^\{[A-Za-z0-9]+\}$/.test(s) || /^\([A-Za-z0-9]+\)$/.test(s)) s = s.slice(1, -1);
  s = s.replaceAll("infinity", "\\infty");
  if (!s.includes("\\infty")) s = s.replace(/\binf\b/g, "\\infty");
  s = s.replaceAll("\\mathbf", "");
  s = s.replace(/(\d+)\.0*([^\d])/g, "$1$2").replace(/(\d+)\.0*$/, "$1");
  if (s.startsWith(".")) s = `0${s}`;
  const sides = s.split("=");
  if (sides.length === 2 && sides[0]!.trim().length <= 2) s = sides[1]!;
  s = fixSqrt(s);
  s = s.replaceAll(" ", "");
  s = fixFracs(s);
  s = fixSlash(s);
  return s;
}
