/**
 * Marking forced targets in the synthetic domains' symbol texts (symbols joined by single
 * spaces): the character spans of the symbols fixed by the format, for `SftExample.forced`.
 *
 * @module
 */
import type { ForcedTargets } from "../core/plugin.ts";

/**
 * A response of symbols with the forced ones marked.
 *
 * @param symbols The response's symbols, joined by single spaces into the response.
 * @param forced Whether each symbol is fixed by the format (same length as `symbols`).
 * @returns The response text and its marks; the end-of-sequence target is always forced.
 */
export function markForced(
  symbols: ReadonlyArray<string>,
  forced: ReadonlyArray<boolean>,
): { readonly response: string; readonly forced: ForcedTargets } {
  const spans: Array<readonly [number, number]> = [];
  let at = 0;
  symbols.forEach((symbol, i) => {
    if (forced[i]) spans.push([at, at + symbol.length]);
    at += symbol.length + 1;
  });
  return { response: symbols.join(" "), forced: { spans, eos: true } };
}
