/**
 * Pretraining a fresh tiny transformer on a domain's prior corpus: the capability knob of the
 * miniature continuum (0 steps is the random init, the model-weak end; more steps move the base
 * model towards the model-strong end).
 *
 * Each document is tokenized with the {@link SymbolTokenizer} over the domain's symbols as
 * `<bos> symbols… <eos>` (cut to `seqLen + 1` tokens); a batch is `batchSize` documents drawn
 * with replacement from a seeded generator, right-padded; the loss is the plain next-token NLL
 * averaged over real tokens; the optimizer is {@link AdamW} with the cosine schedule of
 * `core/optimizer.ts`.
 *
 * Results are cached in `cacheDir` as safetensors, content-addressed by the SHA-256 of
 * everything that determines the weights (config, symbols, corpus, steps, seed, learning rate,
 * batch size, sequence length, schedule). A checkpoint is written under a temporary name and
 * renamed, so a half-written entry is never read; a lock file beside it keeps two processes
 * (parallel cells, runners sharing a cache) from pretraining the same entry at once.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect } from "effect";
import { CheckpointError, DataError } from "../core/errors.ts";
import { AdamW, cosineLearningRate } from "../core/optimizer.ts";
import { targetLogProb } from "../core/loss.ts";
import type { DomainData } from "../core/plugin.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { SymbolTokenizer } from "./tokenizer.ts";
import {
  type ConfigOverrides,
  type Family,
  tinyConfig,
  Transformer,
  type TransformerConfig,
  weightSpecs,
} from "./transformer.ts";
import { uniform } from "./random.ts";
import { sha256Hex } from "../core/hash.ts";
import { processAlive } from "../core/state_file.ts";

/** What {@link pretrain} trains and how. */
export interface PretrainOptions {
  /** The family of the fresh model. */
  readonly family: Family;
  /** Sizes that replace the tiny preset's. */
  readonly overrides?: ConfigOverrides;
  /** Optimizer steps; 0 returns the random init. */
  readonly steps: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** Documents per batch. */
  readonly batchSize: number;
  /** Longest training sequence (tokens fed per document). */
  readonly seqLen: number;
  /** Share of steps spent warming up. @default 0.05 */
  readonly warmupRatio?: number;
  /** AdamW weight decay. @default 0.01 */
  readonly weightDecay?: number;
  /** Seed of the initialisation and of the batches. */
  readonly seed: number;
}

/** Where {@link pretrain} caches and reports. */
export interface PretrainContext {
  /** The folder of cached checkpoints. */
  readonly cacheDir: string;
  /** Progress lines. */
  log(line: string): void;
}

/** Bumped whenever the training procedure changes, so old cache entries are not reused. */
const cacheVersion = 1;

/**
 * The model config {@link pretrain} builds for a domain's symbol vocabulary.
 *
 * @param vocabSize The tokenizer's vocabulary size.
 * @param options The pretraining options.
 * @returns The config.
 */
export function pretrainConfig(vocabSize: number, options: PretrainOptions): TransformerConfig {
  const overrides = options.overrides ?? {};
  return tinyConfig(options.family, vocabSize, {
    ...overrides,
    contextLength: Math.max(overrides.contextLength ?? 128, options.seqLen),
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The learning rate of a pretraining step: cosine with linear warm-up over `options.steps`
 * (warm-up share `options.warmupRatio`, default 0.05).
 *
 * @param step The 0-based step.
 * @param options Steps, peak learning rate and warm-up share.
 * @returns The learning rate.
 */
export function pretrainLearningRate(
  step: number,
  options: Pick<PretrainOptions, "steps" | "lr" | "warmupRatio">,
): number {
  return cosineLearningRate(step, {
    peak: options.lr,
    totalSteps: options.steps,
    warmupRatio: options.warmupRatio ?? 0.05,
  });
}

/**
 * The documents of a prior corpus as pretraining reads them: `<bos> symbols… <eos>`, cut to
 * `seqLen + 1` tokens.
 *
 * @param corpus The prior corpus.
 * @param tokenizer The symbol tokenizer.
 * @param seqLen The longest training sequence.
 * @returns Token ids per document.
 */
export function pretrainDocuments(
  corpus: ReadonlyArray<string>,
  tokenizer: SymbolTokenizer,
  seqLen: number,
): number[][] {
  return corpus.map((text) =>
    [tokenizer.bosId, ...tokenizer.encode(text), tokenizer.eosId].slice(0, seqLen + 1)
  );
}

/**
 * The documents of each pretraining step, by index: `batchSize` draws with replacement per step
 * from a generator seeded by `options.seed` (the order {@link trainNextToken} trains in).
 *
 * @param documents How many documents there are.
 * @param options Steps, batch size and seed.
 * @returns Per step, the document indices of its batch, lazily.
 */
export function* pretrainRows(
  documents: number,
  options: Pick<PretrainOptions, "steps" | "batchSize" | "seed">,
): Generator<number[]> {
  const next = uniform(options.seed + 7919);
  for (let step = 0; step < options.steps; step++) {
    yield Array.from({ length: options.batchSize }, () => Math.floor(next() * documents));
  }
}

/**
 * One pretraining run of next-token NLL (no caching).
 *
 * @param model The model to train in place.
 * @param documents Token ids per document (`<bos> … <eos>`).
 * @param options Steps, learning rate, batch size, sequence length, seed.
 * @param log Progress lines.
 * @returns The loss of the last step.
 */
export function trainNextToken(
  model: Transformer,
  documents: ReadonlyArray<ReadonlyArray<number>>,
  options: PretrainOptions,
  log: (line: string) => void,
): number {
  const order = pretrainRows(documents.length, options);
  const optimizer = new AdamW(model.variables, { weightDecay: options.weightDecay ?? 0.01 });
  const pad = model.tokenizer.padId;
  const every = Math.max(1, Math.floor(options.steps / 10));
  let last = NaN;
  try {
    for (let step = 0; step < options.steps; step++) {
      const rows = (order.next().value as number[]).map((i) => documents[i]!);
      const width = Math.max(...rows.map((r) => r.length)) - 1;
      const inputs = rows.map((r) =>
        Array.from({ length: width }, (_, t) => (t < r.length - 1 ? r[t]! : pad))
      );
      const targets = rows.map((r) =>
        Array.from({ length: width }, (_, t) => (t < r.length - 1 ? r[t + 1]! : pad))
      );
      const mask = rows.map((r) =>
        Array.from({ length: width }, (_, t) => (t < r.length - 1 ? 1 : 0))
      );
      const lr = pretrainLearningRate(step, options);
      const report = step % every === 0 || step === options.steps - 1;
      tf.tidy(() => {
        const x = tf.tensor2d(inputs, [rows.length, width], "int32");
        const y = tf.tensor2d(targets, [rows.length, width], "int32");
        const m = tf.tensor2d(mask, [rows.length, width]);
        const { value, grads } = tf.variableGrads(() => {
          const logp = targetLogProb(model.logits(x), y);
          return tf.div(tf.neg(tf.sum(tf.mul(logp, m))), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
        }, [...model.variables]);
        optimizer.apply(model.variables.map((v) => grads[v.name]!), lr);
        if (report) {
          last = value.dataSync()[0]!;
          log(
            `pretrain step ${step + 1}/${options.steps}: loss ${last.toFixed(4)}, lr ${
              lr.toExponential(2)
            }`,
          );
        }
      });
    }
  } finally {
    optimizer.dispose();
  }
  return last;
}

/**
 * Takes the lock file of a cache entry (created exclusively, holding this process's id), waiting
 * while a live process holds it; a lock left by a dead process is removed.
 */
function lockEntry(
  lock: string,
  log: (line: string) => void,
): Effect.Effect<string, CheckpointError> {
  return Effect.tryPromise({
    try: async () => {
      let told = false;
      for (;;) {
        try {
          await Deno.writeTextFile(lock, String(Deno.pid), { createNew: true });
          return lock;
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        }
        const holder = Number(await Deno.readTextFile(lock).catch(() => "0"));
        const age = Date.now() - ((await Deno.stat(lock).catch(() => null))?.mtime?.getTime() ?? 0);
        if (holder > 0 && processAlive(holder)) {
          if (!told) {
            log(
              `pretrain: process ${holder} is pretraining this backbone; waiting for it (${lock})`,
            );
            told = true;
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        } else if (holder > 0 || age > 5000) {
          // A dead holder's lock, or one left empty longer than a write takes: stale.
          await Deno.remove(lock).catch(() => undefined);
        } else {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    catch: (error) =>
      new CheckpointError({
        message: `Cannot lock ${lock}: ${
          String((error as Error)?.message ?? error).split("\n")[0]
        }`,
        file: lock,
      }),
  });
}

/**
 * Creates the pretrained-backbone cache folder (and its parents) if it is missing.
 *
 * @param dir The cache folder.
 * @returns Nothing; a CheckpointError naming the folder when it cannot be created.
 */
export function makeCacheFolder(dir: string): Effect.Effect<void, CheckpointError> {
  return Effect.tryPromise({
    try: () => Deno.mkdir(dir, { recursive: true }),
    catch: (error) =>
      new CheckpointError({
        message: `Cannot create cache folder ${dir}: ${(error as Error).message}`,
        file: dir,
      }),
  });
}

/**
 * A tiny transformer pretrained for `options.steps` steps on the domain's prior corpus, from the
 * cache when an identical run was done before.
 *
 * @param domain The domain (its symbols and prior corpus).
 * @param options What to train and how.
 * @param context The cache folder and a log.
 * @returns The model (the caller disposes it).
 */
export function pretrain(
  domain: DomainData,
  options: PretrainOptions,
  context: PretrainContext,
): Effect.Effect<Transformer, DataError | CheckpointError> {
  return Effect.gen(function* () {
    if (!domain.symbols || domain.symbols.length === 0) {
      return yield* new DataError({
        message: "Cannot pretrain: the domain has no symbols (a symbol tokenizer needs them)",
        file: "domain symbols",
      });
    }
    const symbols = domain.symbols;
    const tokenizer = yield* Effect.try({
      try: () => new SymbolTokenizer(symbols),
      catch: (error) =>
        error instanceof DataError
          ? error
          : new DataError({ message: String(error), file: "domain symbols" }),
    });
    const config = pretrainConfig(tokenizer.vocabSize, options);
    if (options.steps === 0) return new Transformer(config, { tokenizer, seed: options.seed });
    if (domain.priorCorpus.length === 0) {
      return yield* new DataError({
        message: `Cannot pretrain for ${options.steps} steps: the domain's prior corpus is empty`,
        file: "domain priorCorpus",
      });
    }
    const key = yield* Effect.promise(() =>
      sha256Hex(JSON.stringify({
        cacheVersion,
        config,
        symbols,
        corpus: domain.priorCorpus,
        steps: options.steps,
        lr: options.lr,
        batchSize: options.batchSize,
        seqLen: options.seqLen,
        warmupRatio: options.warmupRatio ?? 0.05,
        weightDecay: options.weightDecay ?? 0.01,
        seed: options.seed,
      }))
    );
    const path = `${context.cacheDir.replace(/\/+$/, "")}/pretrain-${key.slice(0, 32)}.safetensors`;
    const cached = Effect.gen(function* () {
      context.log(`pretrain: cache hit ${path}`);
      const file = yield* readSafetensors(path);
      const weights = new Map([...file.tensors].map(([name, t]) => [name, t.data]));
      return yield* Effect.try({
        try: () => new Transformer(config, { tokenizer, weights }),
        catch: (error) =>
          new CheckpointError({
            message: `Cannot use cached checkpoint ${path}: ${(error as Error).message}`,
            file: path,
          }),
      });
    });
    if (yield* Effect.promise(() => exists(path))) return yield* cached;
    yield* makeCacheFolder(context.cacheDir);
    // One process pretrains a given backbone at a time (parallel cells, runners sharing a
    // cache); the others wait for its checkpoint and read it.
    return yield* Effect.acquireUseRelease(
      lockEntry(`${path}.lock`, context.log),
      () =>
        Effect.gen(function* () {
          if (yield* Effect.promise(() => exists(path))) return yield* cached;
          return yield* train(domain, tokenizer, config, options, context, path);
        }),
      (lock) => Effect.promise(() => Deno.remove(lock).catch(() => undefined)),
    );
  });
}

function train(
  domain: DomainData,
  tokenizer: SymbolTokenizer,
  config: TransformerConfig,
  options: PretrainOptions,
  context: PretrainContext,
  path: string,
): Effect.Effect<Transformer, CheckpointError> {
  return Effect.gen(function* () {
    const documents = pretrainDocuments(domain.priorCorpus, tokenizer, options.seqLen);
    const model = new Transformer(config, { tokenizer, seed: options.seed });
    context.log(
      `pretrain: ${options.steps} steps on ${documents.length} documents (cache miss ${path})`,
    );
    const started = performance.now();
    const loss = trainNextToken(model, documents, options, (line) => context.log(line));
    context.log(
      `pretrain: done in ${((performance.now() - started) / 1000).toFixed(1)} s, loss ${
        loss.toFixed(4)
      }`,
    );
    const values = yield* Effect.promise(() => model.weightValues());
    const shapes = new Map(weightSpecs(config).map((s) => [s.name, s.shape]));
    const tensors = new Map(
      [...values].map(([name, data]) => [name, { shape: shapes.get(name)!, data }]),
    );
    yield* writeSafetensors(path, tensors, {
      format: "pt",
      probsft: "pretrain",
      config: JSON.stringify(config),
      steps: String(options.steps),
      seed: String(options.seed),
    }).pipe(Effect.tapError(() => Effect.sync(() => model.dispose())));
    return model;
  });
}
