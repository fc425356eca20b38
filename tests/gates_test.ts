// The quick gates CI applies, run as part of the test suite: lint, format and type check.
import assert from "node:assert/strict";

async function deno(...args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

Deno.test("deno lint passes", async () => {
  const { code, output } = await deno("lint");
  assert.equal(code, 0, output);
});

Deno.test("deno fmt --check passes", async () => {
  const { code, output } = await deno("fmt", "--check");
  assert.equal(code, 0, output);
});

Deno.test("deno check passes on the entry points", async () => {
  const { code, output } = await deno("check", "main.ts", "mod.ts");
  assert.equal(code, 0, output);
});
