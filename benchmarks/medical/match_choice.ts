/**
 * `matchChoice`: reads the chosen option letter from a free-form multiple-choice answer, after the
 * rules of the generative medical evaluation (HuatuoGPT-o1's `match_choice`, used by the paper;
 * written here from its description). The **last** match of the first rule that fires wins:
 *
 * 1. cut the text at "## Final Response" (keep what follows);
 * 2. strict: "answer is X" (also "answer is (X)", "answer is **X**");
 * 3. a bare option letter with word boundaries (an "A" used as an article is skipped);
 * 4. an option's text found in the output (the one found last);
 * 5. the option most similar to the output (Ratcliff–Obershelp ratio, as difflib).
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
 * @param count Number of options (at most 14, A–N).
 * @returns The letters.
 */
export function optionLetters(count: number): string[] {
  return [..."ABCDEFGHIJKLMN"].slice(0, count);
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
  const set = `[${letters.join("")}]`;
  const strict = [
    ...body.matchAll(new RegExp(`[Aa]nswer is\\s*[:(\\[*$]*\\s*(${set})(?![A-Za-z0-9])`, "g")),
  ];
  if (strict.length > 0) return { letter: strict.at(-1)![1]!, rule: "strict" };
  const bare = [...body.matchAll(new RegExp(`(?<![A-Za-z0-9])(${set})(?![A-Za-z0-9])`, "g"))]
    .filter((m) => !(m[1] === "A" && /^ [a-z]/.test(body.slice(m.index! + 1, m.index! + 3))));
  if (bare.length > 0) return { letter: bare.at(-1)![1]!, rule: "letter" };
  const lower = body.toLowerCase();
  let found: { index: number; length: number; letter: string } | null = null;
  options.forEach((option, k) => {
    const needle = option.trim().toLowerCase();
    if (needle === "") return;
    const hits = [...lower.matchAll(new RegExp(escape(needle), "g"))];
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
  let best = 0;
  let bestScore = -1;
  options.forEach((option, k) => {
    const score = similarityRatio(option.toLowerCase(), lower);
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
