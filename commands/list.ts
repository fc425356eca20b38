/**
 * `deno task list [--plugin SPEC]… [--json]`: every registered part with its kind, id, plugin
 * and summary.
 *
 * @module
 */
import { Effect } from "effect";
import type { RegistryShape } from "../core/registry.ts";
import { type Command, parseFlags } from "./flags.ts";
import { registryWith } from "./registry_with.ts";

function printTable(rows: ReadonlyArray<ReadonlyArray<string>>): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) {
    console.log(
      row.map((cell, c) => c === row.length - 1 ? cell : cell.padEnd(widths[c]!)).join("  "),
    );
  }
}

/** The list command. */
export const listCommand: Command = (args) =>
  Effect.gen(function* () {
    const { values } = yield* parseFlags("list", args, {
      plugin: { type: "string", multiple: true },
      json: { type: "boolean" },
    });
    const registry: RegistryShape = yield* registryWith(values.plugin ?? []);
    const rows = registry.list();
    if (values.json) {
      console.log(JSON.stringify(rows, null, 2));
      return;
    }
    printTable([
      ["KIND", "ID", "PLUGIN", "SUMMARY"],
      ...rows.map((r) => [
        r.kind,
        r.id,
        r.plugin,
        r.experimental ? `[experimental] ${r.summary}` : r.summary,
      ]),
    ]);
  });
