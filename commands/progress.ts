/**
 * Progress of a run: a bar that redraws one line on a terminal (run, cell, step, ETA), plain lines
 * when the output is not a terminal.
 *
 * @module
 */
import type { Progress } from "../core/runner.ts";

function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "?";
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}

/**
 * A progress reporter for stderr.
 *
 * @param name The run's name.
 * @returns The reporter.
 */
export function consoleProgress(name: string): Progress {
  const terminal = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  let head = "";
  let lastPlain = 0;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  return {
    cell(index, total, label, remaining) {
      head = `[${name}] cell ${index}/${total} ${label} (ETA ${duration(remaining)})`;
      if (terminal) write(`\r\x1b[K${head}`);
      else write(`${head}\n`);
      lastPlain = 0;
    },
    step(metrics, total) {
      const width = 20;
      const done = Math.round((metrics.step / total) * width);
      const bar = `${"#".repeat(done)}${".".repeat(width - done)}`;
      const text = `${head} [${bar}] step ${metrics.step}/${total} nll ${
        metrics.nll.toFixed(3)
      } p ${metrics.meanP.toFixed(3)}`;
      if (terminal) write(`\r\x1b[K${text}`);
      else if (metrics.step === total || metrics.step - lastPlain >= Math.max(1, total / 4)) {
        lastPlain = metrics.step;
        write(
          `  step ${metrics.step}/${total} nll ${metrics.nll.toFixed(3)} p ${
            metrics.meanP.toFixed(3)
          }\n`,
        );
      }
    },
    log(line) {
      write(terminal ? `\r\x1b[K${line}\n` : `${line}\n`);
    },
  };
}
