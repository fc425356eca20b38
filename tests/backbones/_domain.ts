/**
 * A tiny synthetic domain for backbone tests: symbols, a prior corpus of short "addition"
 * documents, and a one-item SFT set.
 *
 * @module
 */
import type { BackboneContext, DomainData } from "../../core/plugin.ts";

/** Digits and a few operators. */
export const testSymbols: ReadonlyArray<string> = [
  ..."0123456789".split(""),
  "+",
  "=",
  ";",
  "####",
];

/** A deterministic prior corpus of `a + b = c` documents. */
export const testDomain: DomainData = {
  symbols: testSymbols,
  priorCorpus: Array.from({ length: 40 }, (_, i) => {
    const a = (i * 7) % 10;
    const b = (i * 3) % 10;
    return [a, "+", b, "=", ...String(a + b).split(""), "####"].join(" ");
  }),
  sft: [{ prompt: "1 + 2 =", response: "3" }],
  benchmarks: [],
  primary: "none/greedy",
};

/**
 * A backbone context over {@link testDomain} with a fresh cache folder.
 *
 * @param cacheDir The cache folder.
 * @param lines Collects log lines.
 * @returns The context.
 */
export function testContext(cacheDir: string, lines: string[] = []): BackboneContext {
  return {
    seed: 3,
    domain: testDomain,
    cacheDir,
    log: (line) => lines.push(line),
  };
}
