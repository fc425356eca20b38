/**
 * The PyTorch twin of the bench workloads (`bench/torch_reference.py`), started as a child
 * process with the OpenBLAS kernels probsft's own OpenBLAS uses ({@link peerEnv}) and asked over a
 * line protocol.
 *
 * @module
 */
import { coreTypeFromCpuinfo } from "../core/backend/openblas.ts";

/**
 * The environment of a PyTorch peer: this process's, with `OPENBLAS_CORETYPE` as probsft's own
 * OpenBLAS load gets it (the user's value, else the kernels `/proc/cpuinfo` supports). Without it
 * OpenBLAS 0.3.21 picks its SSE3 `Prescott` kernels inside a VM in torch too: on the 2-core
 * Xeon VM of 2026-11-30 `[2048,512]·[512,512]` ran at 63 GFLOP/s in torch 1.13 instead of 292 with
 * `SkylakeX`, which would compare probsft with a handicapped peer.
 *
 * @returns The child's environment.
 */
export function peerEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  const core = env.OPENBLAS_CORETYPE ?? coreTypeFromCpuinfo();
  if (core !== undefined) env.OPENBLAS_CORETYPE = core;
  return env;
}

/** The PyTorch twin, serving requests over a line protocol. */
export class TorchPeer {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  /** torch's version. */
  readonly version: string;
  /** Parameters of the twin's model. */
  readonly params: number;

  constructor(
    child: Deno.ChildProcess,
    lines: AsyncIterator<string>,
    version: string,
    params: number,
  ) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines;
    this.version = version;
    this.params = params;
  }

  /**
   * Starts the twin at a workload size; resolves to a reason string when python3 or torch is
   * missing.
   *
   * @param size The size's name (`reference`, `27m`, `gpt2-small`, `gpt2-medium`).
   * @param microBatch Sequences per micro-batch.
   * @returns The peer, or why not.
   */
  static async start(size = "reference", microBatch?: number): Promise<TorchPeer | string> {
    const python = await Deno.stat("/usr/bin/python3").then(
      () => "/usr/bin/python3",
      () => "python3",
    );
    const script = new URL("../bench/torch_reference.py", import.meta.url).pathname;
    const env = peerEnv();
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(python, {
        args: [
          script,
          "--serve",
          "--size",
          size,
          ...(microBatch === undefined ? [] : ["--micro-batch", String(microBatch)]),
        ],
        env,
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      return `${python} could not be started (${(error as Error).message})`;
    }
    const lines = splitLines(child.stdout);
    const first = await lines.next();
    if (first.done) {
      const err = (await new Response(child.stderr).text()).trim().split("\n");
      await child.status;
      return `torch is not available to ${python} (${err[err.length - 1] ?? "no output"})`;
    }
    const hello = JSON.parse(first.value) as { torch?: string; params?: number };
    child.stderr.cancel();
    return new TorchPeer(child, lines, hello.torch ?? "unknown", hello.params ?? NaN);
  }

  /**
   * Sends one request and waits for its answer.
   *
   * @param request The request (see bench/torch_reference.py).
   * @returns Milliseconds, and tokens or the twin's peak RSS where given.
   */
  async ask(
    request: Record<string, unknown>,
  ): Promise<{ ms: number[]; tokens?: number; peakRssMb?: number }> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    const line = await this.#lines.next();
    if (line.done) throw new Error("the PyTorch twin stopped");
    const answer = JSON.parse(line.value) as {
      ms?: number[];
      tokens?: number;
      peakRssMb?: number;
      error?: string;
    };
    if (answer.error !== undefined || answer.ms === undefined) {
      throw new Error(`the PyTorch twin failed: ${answer.error}`);
    }
    return {
      ms: answer.ms,
      ...(answer.tokens === undefined ? {} : { tokens: answer.tokens }),
      ...(answer.peakRssMb === undefined ? {} : { peakRssMb: answer.peakRssMb }),
    };
  }

  /** Ends the child. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}

/**
 * The lines of a byte stream.
 *
 * @param stream UTF-8 bytes.
 * @returns Each line, without its newline.
 */
export async function* splitLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let at: number;
    while ((at = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, at);
      rest = rest.slice(at + 1);
    }
  }
  if (rest !== "") yield rest;
}
