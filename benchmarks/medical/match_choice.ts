/**
 * `matchChoice`: reads the chosen option letter from a free-form multiple-choice answer, the way
 * people write one. The rules of HuatuoGPT-o1's `match_choice` (used by the paper; written here
 * from its description) are kept as the skeleton, with the readings they miss added. The first
 * rule that finds something decides; within a rule the **last** match wins, and a match that the
 * text negates ("not B", "rather than measles", "rules out C") does not count.
 *
 * 1. cut the text at "## Final Response" (keep what follows);
 * 2. `strict`: an explicit statement of the letter, in any case: "answer is X", "answer: X",
 *    "correct option/choice is X", "option X is correct", "I choose X", with X bare, `(X)`, `[X]`,
 *    `**X**` or `X.`; "the answer is b" is B;
 * 3. `letter`: an option letter standing alone, with every option's own text masked first (so the
 *    "D" of "vitamin D toxicity" is not a letter); an uppercase letter, or a lowercase one in a
 *    marked form (`(b)`, `b)`, "option b"); "A" and "I" used as words ("A patient", "I think")
 *    are skipped;
 * 4. `text`: an option's text found in the output (case-insensitive, whole words), not negated;
 *    the one found last, the longest at the same place;
 * 5. `similarity`: the option most similar to the output (Ratcliff–Obershelp ratio, as difflib).
 *
 * Options may number up to 26 (A–Z).
 *
 * @module
 */

/** Which rule of {@link matchChoice} fired. */
export type ChoiceRule = "strict" | "letter" | "text" | "similarity";

/** The result of {@link matchChoiceDetailed}. */
export interface ChoiceMatch {
  /** The option letter. */
  readonly letter: string;
  /** The rule that chose it (format failures stay apart from knowledge failures). */
  readonly rule: ChoiceRule;
}

/**
 * The option letters for `count` options: A, B, C, …
 *
 * @param count Number of options (at most 26, A–Z).
 * @returns The letters.
 */
export function optionLetters(count: number): string[] {
  return [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ"].slice(0, count);
}

function longestCommon(a: string, b: string, aLo: number, aHi: number, bLo: number, bHi: number) {
  let best = { i: aLo, j: bLo, size: 0 };
  let prev = new Map<number, number>();
  for (let i = aLo; i < aHi; i++) {
    const next = new Map<number, number>();
    for (let j = bLo; j < bHi; j++) {
      if (a[i] !== b[j]) continue;
      const size = (prev.get(j - 1) ?? 0) + 1;
      next.set(j, size);
      if (size > best.size) best = { i: i - size + 1, j: j - size + 1, size };
    }
    prev = next;
  }
  return best;
}

function matchingCharacters(
  a: string,
  b: string,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
): number {
  if (aLo >= aHi || bLo >= bHi) return 0;
  const { i, j, size } = longestCommon(a, b, aLo, aHi, bLo, bHi);
  if (size === 0) return 0;
  return size + matchingCharacters(a, b, aLo, i, bLo, j) +
    matchingCharacters(a, b, i + size, aHi, j + size, bHi);
}

/**
 * The Ratcliff–Obershelp similarity 2·M / (|a| + |b|), M the characters in recursively found
 * longest common blocks (difflib's `SequenceMatcher.ratio` without its junk heuristic).
 *
 * @param a One string.
 * @param b The other.
 * @returns A similarity in [0, 1]; 1 for two empty strings.
 */
export function similarityRatio(a: string, b: string): number {
  if (a.length + b.length === 0) return 1;
  return (2 * matchingCharacters(a, b, 0, a.length, 0, b.length)) / (a.length + b.length);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Words that negate what follows them in the same clause. */
const negation =
  /(?:\bnot|n't|\bnever|\brather than|\binstead of|\brul(?:e|es|ed|ing) out|\bexclud(?:e|es|ed|ing)|\bunlikely to be|\bincorrect(?: option| answer| choice)? is)\s*(?:(?:the|an?|be|is|it|option|choice|answer|just|simply|[("'*[])\s*)*$/i;

/** Whether the match at `index` is negated in its clause ("it is not D", "rather than measles"). */
function negated(body: string, index: number): boolean {
  const before = body.slice(Math.max(0, index - 60), index);
  const clause = before.split(/[.;!?\n]|,\s*(?:but|so)\b/).at(-1) ?? "";
  return negation.test(clause);
}

/** Replaces each option's text (whole words, any case) by spaces of the same length. */
function maskOptions(body: string, options: ReadonlyArray<string>): string {
  let masked = body;
  for (const option of options) {
    const needle = option.trim();
    if (needle.length < 2) continue;
    masked = masked.replace(
      new RegExp(`(?<![A-Za-z0-9])${escape(needle)}(?![A-Za-z0-9])`, "gi"),
      (m) => " ".repeat(m.length),
    );
  }
  return masked;
}

/**
 * Like {@link matchChoice}, also saying which rule fired.
 *
 * @param text The model's completion.
 * @param options The option texts, in letter order.
 * @returns The letter and rule, or null when there are no options or the text is blank.
 */
export function matchChoiceDetailed(
  text: string,
  options: ReadonlyArray<string>,
): ChoiceMatch | null {
  const letters = optionLetters(options.length);
  if (letters.length === 0) return null;
  const marker = text.lastIndexOf("## Final Response");
  const body = marker >= 0 ? text.slice(marker + "## Final Response".length) : text;
  if (body.trim() === "") return null;
  const set = `[${letters.join("")}${letters.join("").toLowerCase()}]`;
  const marked = String.raw`\s*[:(\[*"']*\s*(${set})(?![A-Za-z0-9])`;
  const statements = [
    `answer(?:\\s+is|\\s*:|\\s+would\\s+be|\\s+should\\s+be)${marked}`,
    `correct\\s+(?:option|choice|letter)\\s+(?:is|would\\s+be)${marked}`,
    `\\bI\\s+(?:choose|pick|select|go\\s+with)${marked}`,
    `\\b(?:option|choice)\\s*[(\\[]?(${set})[)\\]]?\\s+is\\s+(?:the\\s+)?(?:correct|right|best)`,
  ];
  const masked = maskOptions(body, options);
  const strict = statements.flatMap((pattern) => [...masked.matchAll(new RegExp(pattern, "gi"))])
    .filter((m) => {
      const letter = m.slice(1).find((g) => g !== undefined)!;
      const after = masked.slice(m.index! + m[0].length);
      if (letter === letter.toLowerCase() && /^\s+[a-z]/.test(after)) return false; // "is a virus"
      return !negated(masked, m.index! + m[0].length - 1);
    })
    .sort((a, b) => a.index! - b.index!);
  if (strict.length > 0) {
    return {
      letter: strict.at(-1)!.slice(1).find((g) => g !== undefined)!.toUpperCase(),
      rule: "strict",
    };
  }
  const upper = `[${letters.join("")}]`;
  const lower = `[${letters.join("").toLowerCase()}]`;
  const bare = [
    ...masked.matchAll(
      new RegExp(
        `(?<![A-Za-z0-9'])(${upper})(?![A-Za-z0-9'])|\\((${lower})\\)|(?<![A-Za-z0-9])(${lower})\\)|\\b(?:option|choice)\\s+(${lower})\\b`,
        "g",
      ),
    ),
  ].filter((m) => {
    const letter = (m[1] ?? m[2] ?? m[3] ?? m[4])!;
    const after = masked.slice(m.index! + m[0].length, m.index! + m[0].length + 3);
    if ((letter === "A" || letter === "I") && m[1] !== undefined && /^ [a-z]/.test(after)) {
      return false; // "A patient", "I think"
    }
    return !negated(masked, m.index!);
  });
  if (bare.length > 0) {
    const m = bare.at(-1)!;
    return { letter: (m[1] ?? m[2] ?? m[3] ?? m[4])!.toUpperCase(), rule: "letter" };
  }
  let found: { index: number; length: number; letter: string } | null = null;
  options.forEach((option, k) => {
    const needle = option.trim();
    if (needle === "") return;
    const pattern = new RegExp(`(?<![A-Za-z0-9])${escape(needle)}(?![A-Za-z0-9])`, "gi");
    const hits = [...body.matchAll(pattern)].filter((m) => !negated(body, m.index!));
    const last = hits.at(-1);
    if (last === undefined) return;
    const index = last.index!;
    if (
      found === null || index > found.index ||
      (index === found.index && needle.length > found.length)
    ) {
      found = { index, length: needle.length, letter: letters[k]! };
    }
  });
  if (found !== null) return { letter: (found as { letter: string }).letter, rule: "text" };
  const lowerBody = body.toLowerCase();
  let best = 0;
  let bestScore = -1;
  options.forEach((option, k) => {
    const score = similarityRatio(option.toLowerCase(), lowerBody);
    if (score > bestScore) [best, bestScore] = [k, score];
  });
  return { letter: letters[best]!, rule: "similarity" };
}

/**
 * Reads the chosen option letter of a multiple-choice completion (see the module doc for the
 * rules; the last match wins).
 *
 * @example
 * ```ts ignore
 * matchChoice("... so the answer is (C).", ["flu", "cold", "measles", "mumps"]); // "C"
 * matchChoice("I think it is mumps", ["flu", "cold", "measles", "mumps"]); // "D"
 * ```
 *
 * @param text The model's completion.
 * @param options The option texts, in letter order.
 * @returns The letter, or null when there are no options or the text is blank.
 */
export function matchChoice(text: string, options: ReadonlyArray<string>): string | null {
  return matchChoiceDetailed(text, options)?.letter ?? null;
}
