/**
 * Progress of a run: a bar that redraws one line on a terminal (run, cell, step, ETA), plain lines
 * when the output is not a terminal. When several cells run at once (`--jobs`), the terminal
 * line shows each running cell's step and the plain lines name their cell.
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
  // Several cells at once: each running cell's step, and the last plain line's step per cell.
  let counter = "";
  const running = new Map<string, string>();
  const plainSteps = new Map<string, number>();
  const short = (label: string) => label.replace(/-[0-9a-f]{10}$/, "");
  const redraw = () => {
    let width = 120;
    try {
      width = Deno.consoleSize().columns - 1;
    } catch {
      // no console size: keep 120
    }
    const line = [counter, ...running.values()].join(" | ");
    write(`\r\x1b[K${line.length > width ? line.slice(0, Math.max(0, width - 1)) + "…" : line}`);
  };
  return {
    cell(index, total, label, remaining) {
      head = `[${name}] cell ${index}/${total} ${label} (ETA ${duration(remaining)})`;
      counter = `[${name}] cell ${index}/${total} (ETA ${duration(remaining)})`;
      if (terminal) write(`\r\x1b[K${head}`);
      else write(`${head}\n`);
      lastPlain = 0;
    },
    step(metrics, total, label) {
      if (label !== undefined) {
        const text = `step ${metrics.step}/${total} nll ${metrics.nll.toFixed(3)} p ${
          metrics.meanP.toFixed(3)
        }`;
        running.set(label, `${short(label)} ${metrics.step}/${total}`);
        if (terminal) return redraw();
        const last = plainSteps.get(label) ?? 0;
        if (metrics.step === total || metrics.step - last >= Math.max(1, total / 4)) {
          plainSteps.set(label, metrics.step);
          write(`  ${short(label)}: ${text}\n`);
        }
        return;
      }
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
    ended(label) {
      running.delete(label);
      plainSteps.delete(label);
    },
  };
}
