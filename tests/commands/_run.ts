// Runs a `deno task` command as a user does: `deno run -A main.ts <command> …` (deno.json's
// "tasks") in a fresh process on the default backend, with an optional environment. This file
// deliberately does not import tests/_setup.ts: that selects the `cpu` backend in-process, and
// the point here is the backend a user gets.
import assert from "node:assert/strict";
import { findBlas } from "../../core/backend/mod.ts";
import { loadNativeSgemm } from "../../core/backend/native_sgemm.ts";

/** The repository root (where deno.json and main.ts are). */
export const repoRoot: string = new URL("../../", import.meta.url).pathname;

/** What a finished subprocess left. */
export interface RunResult {
  /** Exit status. */
  readonly code: number;
  /** Everything written to stdout. */
  readonly stdout: string;
  /** Everything written to stderr. */
  readonly stderr: string;
}

const decoder = new TextDecoder();

/**
 * Runs `deno <denoArgs…>` (in the repository root by default) and collects its output.
 *
 * @param denoArgs The arguments after the deno executable.
 * @param env Extra environment variables (added to the inherited environment).
 * @param cwd The working folder (default: the repository root).
 * @returns Exit status, stdout and stderr.
 */
export async function runDeno(
  denoArgs: ReadonlyArray<string>,
  env: Record<string, string> = {},
  cwd: string = repoRoot,
): Promise<RunResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...denoArgs],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Runs `deno run -A main.ts <args…>`, exactly what `deno task <command>` runs.
 *
 * @param args The command and its arguments.
 * @param env Extra environment variables, e.g. `{ PROBSFT_BLAS: "0" }` for plain wasm.
 * @returns Exit status, stdout and stderr.
 */
export function runTask(
  args: ReadonlyArray<string>,
  env: Record<string, string> = {},
): Promise<RunResult> {
  return runDeno(["run", "-A", "main.ts", ...args], env);
}

/**
 * Asserts a successful run and parses its stdout as JSON.
 *
 * @param result The run.
 * @returns The parsed value.
 */
export function okJson<T>(result: RunResult): T {
  assert.equal(result.code, 0, `exit ${result.code}; stderr:\n${result.stderr}`);
  try {
    return JSON.parse(result.stdout) as T;
  } catch (error) {
    throw new Error(`stdout is not JSON (${(error as Error).message}):\n${result.stdout}`);
  }
}

/**
 * Asserts that a run ended the way a user's mistake should: exit 1, exactly one line on stderr
 * starting with `error: ` and matching `pattern`, no stack trace.
 *
 * @param result The run.
 * @param pattern What the line must say.
 */
export function assertOneLineError(result: RunResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `exit ${result.code}; stderr:\n${result.stderr}`);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0]!, /^error: /);
  assert.match(lines[0]!, pattern);
  assert.ok(!result.stderr.includes("    at "), `no stack trace:\n${result.stderr}`);
}

/**
 * Whether a command started with the inherited environment runs the wasm backend's matrix
 * products through a BLAS (OpenBLAS where installed, else the bundled sgemm): one was found, and
 * this process was not itself started with `PROBSFT_BLAS=0` (which the subprocesses inherit).
 */
export const hasBlas: boolean = findBlas() !== null &&
  (Deno.env.get("PROBSFT_BLAS") ?? "1") !== "0";

/**
 * The environments a command is run under: the default (OpenBLAS where installed), the bundled
 * sgemm (what a machine without OpenBLAS runs; x86-64 Linux with AVX2), and plain wasm.
 */
export const blasVariants: ReadonlyArray<
  { readonly name: string; readonly env: Record<string, string> }
> = [
  ...(hasBlas && findBlas()!.path !== "bundled" ? [{ name: "wasm + OpenBLAS", env: {} }] : []),
  ...(hasBlas && loadNativeSgemm() !== null
    ? [{ name: "wasm + bundled sgemm", env: { PROBSFT_BLAS: "bundled" } }]
    : []),
  { name: "plain wasm", env: { PROBSFT_BLAS: "0" } },
];

/**
 * Asserts two numbers agree to a relative-or-absolute tolerance.
 *
 * @param actual The value found.
 * @param expected The value wanted.
 * @param tolerance Allowed |actual − expected| / max(1, |expected|).
 * @param what A name for the message.
 */
export function assertClose(actual: number, expected: number, tolerance: number, what: string) {
  assert.ok(
    Number.isFinite(actual) &&
      Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs ${expected} (tolerance ${tolerance})`,
  );
}
