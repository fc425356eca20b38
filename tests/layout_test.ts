// The dependency direction of DESIGN.md's layout, read from the import statements: core/ imports
// no part folder; a part folder imports the core and no other part folder (a backbone never
// depends on a domain, a domain never on a backbone, an objective on neither).
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** The folders a part folder must not import from. */
const forbidden: Record<string, ReadonlyArray<string>> = {
  core: ["objectives", "backbones", "benchmarks", "plugins"],
  objectives: ["backbones", "benchmarks", "plugins"],
  backbones: ["objectives", "benchmarks", "plugins"],
  benchmarks: ["objectives", "backbones", "plugins"],
};

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

const importPattern = /(?:^|\n)\s*(?:import|export)[^"';]*?from\s+"(\.[^"]+)"/g;

Deno.test("core/ imports no part folder; part folders import no other part folder", async () => {
  const violations: string[] = [];
  for (const [folder, banned] of Object.entries(forbidden)) {
    for await (const file of sources(new URL(`${folder}/`, root))) {
      const text = await Deno.readTextFile(file);
      for (const match of text.matchAll(importPattern)) {
        const target = new URL(match[1]!, file).pathname.slice(root.pathname.length);
        const top = target.split("/")[0]!;
        if (banned.includes(top)) {
          violations.push(`${file.pathname.slice(root.pathname.length)} imports ${target}`);
        }
      }
    }
  }
  assert.deepEqual(violations, []);
});
