// Killing `deno task experiment` with SIGKILL mid-run and rerunning the same command gives the
// same results.json scores as an uninterrupted run.
import assert from "node:assert/strict";
import { tinyPreset } from "../_presets.ts";

const preset = tinyPreset("kill-test", { steps: 12, checkpointEvery: 3 });

function experiment(presetPath: string, out: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "experiment", "--preset", presetPath, "--out", out],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

function listing(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name);
  } catch {
    return [];
  }
}

async function scores(out: string): Promise<unknown> {
  const results = JSON.parse(await Deno.readTextFile(`${out}/results.json`)) as {
    cells: Array<{ key: string; scores: unknown; meanPAfter: number }>;
  };
  return results.cells.map((c) => [c.key, c.scores, c.meanPAfter]);
}

Deno.test("SIGKILL mid-run, then the same command, gives the same scores", async () => {
  const dir = await Deno.makeTempDir();
  const presetPath = `${dir}/preset.json`;
  await Deno.writeTextFile(presetPath, JSON.stringify(preset));
  const whole = experiment(presetPath, `${dir}/whole`);
  assert.equal((await whole.output()).code, 0);

  const killed = experiment(presetPath, `${dir}/killed`);
  // Wait until the second training cell has written a checkpoint, then kill without warning.
  const deadline = Date.now() + 120_000;
  let checkpointed = false;
  while (!checkpointed && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const names = listing(`${dir}/killed/cells`);
    checkpointed = names.filter((n) => n.endsWith(".json")).length >= 2 &&
      names.some((n) => n.endsWith(".checkpoint"));
  }
  killed.kill("SIGKILL");
  await killed.status;
  assert.ok(checkpointed, "the run was killed after a checkpoint");

  const rerun = experiment(presetPath, `${dir}/killed`);
  const status = await rerun.output();
  assert.equal(status.code, 0, new TextDecoder().decode(status.stderr));
  assert.deepEqual(await scores(`${dir}/killed`), await scores(`${dir}/whole`));
  await Deno.remove(dir, { recursive: true });
});
