/**
 * A probsft command (`deno run -A main.ts …` in the repository root) run as a child process
 * whose stdout and stderr are drained into one text as they come, for benchmarks and tests that
 * follow long-running commands (cluster runners, submissions).
 *
 * @module
 */

/** A running command and what it has printed. */
export interface LoggedChild {
  /** The process. */
  readonly child: Deno.ChildProcess;
  /** Its output so far (stdout and stderr interleaved; the last `keep` characters). */
  readonly log: { text: string };
  /** Settles when both streams have ended. */
  readonly drained: Promise<unknown>;
}

/**
 * Starts `deno run -A main.ts <args…>` in the repository root with colours off.
 *
 * @param args The command and its arguments.
 * @param keep Characters of output kept (default: all).
 * @returns The child and its output.
 */
export function spawnCommand(args: ReadonlyArray<string>, keep = Infinity): LoggedChild {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: new URL("../", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = { text: "" };
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      log.text += decoder.decode(chunk);
      if (log.text.length > keep) log.text = log.text.slice(-keep);
    }
  };
  return { child, log, drained: Promise.all([drain(child.stdout), drain(child.stderr)]) };
}
