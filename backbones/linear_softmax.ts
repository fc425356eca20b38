/**
 * `linear-softmax`: the linear model of the paper notes' toy (§11.2), as a language model over a
 * domain's symbols. It is meant for the `teacher` domain (`benchmarks/teacher/linear_teacher.ts`)
 * and reads the feature convention of `core/linear_features.ts`, which that domain follows (the
 * backbone imports the convention, never the domain):
 *
 * - the domain's symbols hold one descriptor `#features:<featureSeed>:<dim>`, the label symbols
 *   `y<j>` (contiguous ids) and the input symbols `x<i>`, and may hold a teacher descriptor
 *   `#teacher:<teacherSeed>:<teacherScale>`;
 * - symbol `x<i>` stands for the fixed feature vector x_i = row i of
 *   `teacherFeatures(featureSeed, dim, ·)`, recomputed here from the descriptor;
 * - the teacher W* = `teacherWeights(teacherSeed, dim, V, teacherScale)` is rebuilt from the
 *   teacher descriptor, and only when `capability` > 0.
 *
 * The model: after an input symbol, logits over the labels are Wᵀx + b (W ∈ R^{dim × V},
 * b ∈ R^V, both trainable) and every other token gets logit −10⁴ (probability 0 in fp32); after
 * any other token (`<bos>`, a label) the model puts all its mass on `<eos>`, by construction. So
 * a sequence `<bos> x<i> y<j> <eos>` has one learnable prediction, p(y_j | x_i) = softmax(Wᵀx_i +
 * b)_j, and its `<eos>` target has p = 1 under every weight (zero gradient for every objective,
 * since W_f(1) = 0). The core's Eq. 5 mean p averages over both supervised tokens of an SFT pair,
 * so it reads (mean label p + 1) / 2.
 *
 * The output layer covers only the ids the model can emit: the special tokens, the descriptors and
 * the labels (`vocabSize` = id of `y<V−1>` + 1, far below the tokenizer's vocabulary). The input
 * symbols come after the labels; they are read, never emitted. A target id beyond the output layer
 * occurs only at the unsupervised prompt position (`<bos>` → `x<i>`); the core reads target
 * log-probs through one-hot products, which give that position a zero target logit, and the mask
 * drops it. This keeps every logits call at a few dozen columns instead of one per input point.
 *
 * Two capability knobs, applied in this order:
 *
 * 1. `capability` c: the notes' base model W0 = c·W* + `initStd`·N(0, 1), b = 0 (the noise drawn
 *    from the context seed). c = 0 is a random model (mean p ≈ 1/V, model-weak); the notes
 *    measured mean p ≈ 0.44, 0.68, 0.78 at c = 1, 2, 3 (§11.2). This is the knob the `linear`
 *    preset uses: it reproduces the notes' base models exactly.
 * 2. `pretrainSteps` N: that many AdamW steps (`core/optimizer.ts`, cosine schedule, 5% warm-up)
 *    of next-token NLL on the label tokens of the domain's prior corpus, batches of `batchSize`
 *    (input, label) pairs drawn with replacement from a generator seeded by the context seed;
 *    cached in `cacheDir`, content-addressed by everything that determines it. This knob learns
 *    about W* from data only, as the `pretrained` transformer does; but one corpus point is one
 *    vocabulary symbol, and with the `teacher` domain's default 4000 corpus points it saturates
 *    near held-out accuracy 0.72 and mean label p 0.6 (c = 0, initStd 0, lr 0.1, batch 128), short
 *    of the model-strong end.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Effect, Schema } from "effect";
import { CheckpointError, DataError, PluginError } from "../core/errors.ts";
import { AdamW, cosineLearningRate } from "../core/optimizer.ts";
import type {
  Backbone,
  BackboneContext,
  DomainData,
  GenerateOptions,
  Generation,
  LanguageModel,
  ParamsSchema,
} from "../core/plugin.ts";
import {
  parseFeatureDescriptor,
  parseTeacherDescriptor,
  teacherFeatures,
  teacherWeights,
} from "../core/linear_features.ts";
import { checkGenerateInput, sampleToken } from "./generate.ts";
import { normals, uniform } from "./random.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { SymbolTokenizer } from "./tokenizer.ts";
import { sha256Hex } from "../core/hash.ts";
import { makeCacheFolder } from "./pretrain.ts";

/** Params of {@link linearSoftmaxBackbone}. */
export interface LinearSoftmaxParams {
  /** c in W0 = c·W* + initStd·N(0, 1); needs the teacher descriptor when > 0. @default 0 */
  readonly capability: number;
  /** Standard deviation of the random part of W0. @default 1 */
  readonly initStd: number;
  /** AdamW steps on the prior corpus after initialisation. @default 0 */
  readonly pretrainSteps: number;
  /** Peak learning rate of pretraining. @default 0.1 */
  readonly lr: number;
  /** (input, label) pairs per pretraining step. @default 32 */
  readonly batchSize: number;
  /** Longest sequence accepted (the toy needs 4). @default 8 */
  readonly contextLength: number;
}

const nonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0));

const params: ParamsSchema<LinearSoftmaxParams> = Schema.Struct({
  capability: nonNegative.pipe(Schema.withDecodingDefaultKey(Effect.succeed(0))),
  initStd: nonNegative.pipe(Schema.withDecodingDefaultKey(Effect.succeed(1))),
  pretrainSteps: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(0)),
  ),
  lr: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(0.1)),
  ),
  batchSize: Schema.Int.check(Schema.isGreaterThan(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(32)),
  ),
  contextLength: Schema.Int.check(Schema.isGreaterThanOrEqualTo(4)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(8)),
  ),
});

/** The logit of every token the model rules out (probability 0 in fp32, finite for autodiff). */
const excluded = -1e4;

/** Bumped whenever pretraining changes, so old cache entries are not reused. */
const cacheVersion = 1;

/** What the feature convention yields for a symbol vocabulary. */
export interface LinearLayout {
  /** The tokenizer over the domain's symbols. */
  readonly tokenizer: SymbolTokenizer;
  /** Input dimension. */
  readonly dim: number;
  /** Number of labels V. */
  readonly labels: number;
  /** Token id of label `y0` (labels are contiguous). */
  readonly labelStart: number;
  /** `[vocab × dim]` feature rows; zero for tokens that are not input symbols. */
  readonly features: Float32Array;
  /** 1 for input-symbol tokens, 0 otherwise, per token id. */
  readonly isInput: Int32Array;
  /** The descriptor symbol (for cache keys and saved configs). */
  readonly descriptor: string;
  /** The teacher descriptor, when the domain gives one. */
  readonly teacher?: { readonly teacherSeed: number; readonly teacherScale: number };
}

/**
 * Reads the feature convention from a domain's symbols (see the module doc).
 *
 * @param symbols The domain's symbols.
 * @returns The layout, or a DataError naming what is missing.
 */
export function linearLayout(
  symbols: ReadonlyArray<string>,
): Effect.Effect<LinearLayout, DataError> {
  return Effect.try({
    try: () => {
      const tokenizer = new SymbolTokenizer(symbols);
      const descriptors = symbols.filter((s) => parseFeatureDescriptor(s) !== undefined);
      if (descriptors.length !== 1) {
        throw new DataError({
          message:
            `The domain must list exactly one feature descriptor symbol "#features:<seed>:<dim>", found ${descriptors.length}`,
          file: "domain symbols",
        });
      }
      const { featureSeed, dim } = parseFeatureDescriptor(descriptors[0]!)!;
      const offset = tokenizer.vocabSize - symbols.length;
      const labelIds: number[] = [];
      const inputs: Array<[number, number]> = [];
      symbols.forEach((s, k) => {
        const label = /^y(\d+)$/.exec(s);
        if (label) labelIds[Number(label[1])] = k + offset;
        const input = /^x(\d+)$/.exec(s);
        if (input) inputs.push([k + offset, Number(input[1])]);
      });
      const labels = labelIds.length;
      const labelStart = labelIds[0] ?? -1;
      if (labels < 2 || labelIds.some((id, j) => id !== labelStart + j)) {
        throw new DataError({
          message:
            `The domain's label symbols must be y0 … y<V−1> (V ≥ 2) with contiguous ids, got ${labels} labels`,
          file: "domain symbols",
        });
      }
      if (inputs.some(([id]) => id < labelStart + labels)) {
        throw new DataError({
          message:
            "The domain's input symbols x<i> must come after its label symbols (the output layer ends at the last label)",
          file: "domain symbols",
        });
      }
      if (inputs.length === 0) {
        throw new DataError({
          message: "The domain has no input symbols x<i>",
          file: "domain symbols",
        });
      }
      const rows = 1 + Math.max(...inputs.map(([, i]) => i));
      const table = teacherFeatures(featureSeed, dim, rows);
      const features = new Float32Array(tokenizer.vocabSize * dim);
      const isInput = new Int32Array(tokenizer.vocabSize);
      for (const [id, i] of inputs) {
        features.set(table.subarray(i * dim, (i + 1) * dim), id * dim);
        isInput[id] = 1;
      }
      const teachers = symbols.flatMap((s) => parseTeacherDescriptor(s) ?? []);
      return {
        tokenizer,
        dim,
        labels,
        labelStart,
        features,
        isInput,
        descriptor: descriptors[0]!,
        ...(teachers.length === 1 ? { teacher: teachers[0]! } : {}),
      };
    },
    catch: (error) =>
      error instanceof DataError ? error : new DataError({
        message: String((error as Error)?.message ?? error),
        file: "domain symbols",
      }),
  });
}

function logSoftmaxRow(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  const lse = max + Math.log(sum);
  return Float64Array.from({ length: row.length }, (_, i) => row[i]! - lse);
}

function argmaxRow(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** The linear-softmax language model (see the module doc). */
export class LinearSoftmax implements LanguageModel {
  /**
   * Size of the output layer: the ids the model can emit (specials, descriptors, labels). Input
   * symbols have larger ids: the model reads them and never emits them (see the module doc).
   */
  readonly vocabSize: number;
  /** Longest sequence accepted. */
  readonly contextLength: number;
  /** The symbol tokenizer. */
  readonly tokenizer: SymbolTokenizer;
  /** `[W (dim × V), b (V)]`. */
  readonly variables: ReadonlyArray<tf.Variable>;
  /** The layout the model was built on. */
  readonly layout: LinearLayout;
  readonly #features: tf.Tensor2D;
  readonly #isInput: tf.Tensor1D;
  readonly #preTable: tf.Tensor2D;

  /**
   * @param layout From {@link linearLayout}.
   * @param options The context length, initial weights (default zeros) and whether they train.
   */
  constructor(
    layout: LinearLayout,
    options: {
      readonly contextLength: number;
      readonly weights?: { readonly w: Float32Array; readonly b: Float32Array };
      readonly trainable?: boolean;
    },
  ) {
    this.layout = layout;
    this.tokenizer = layout.tokenizer;
    this.vocabSize = layout.labelStart + layout.labels;
    this.contextLength = options.contextLength;
    const { dim, labels, labelStart } = layout;
    const trainable = options.trainable ?? true;
    const w = options.weights?.w ?? new Float32Array(dim * labels);
    const b = options.weights?.b ?? new Float32Array(labels);
    this.variables = tf.tidy(() => [
      tf.variable(tf.tensor2d(w, [dim, labels]), trainable),
      tf.variable(tf.tensor1d(b), trainable),
    ]);
    this.#features = tf.tensor2d(layout.features, [layout.tokenizer.vocabSize, dim]);
    this.#isInput = tf.tensor1d(layout.isInput, "int32");
    // Logits of the ids below the labels: after a non-input token only <eos> is possible; after an
    // input token none of them is.
    const pre = new Float32Array(2 * labelStart).fill(excluded);
    pre[layout.tokenizer.eosId] = 0;
    this.#preTable = tf.tensor2d(pre, [2, labelStart]);
  }

  /**
   * Logits `[batch, time, vocab]` (see the module doc); synchronous, tidy-safe.
   *
   * @param tokens Int32 ids `[batch, time]`.
   * @returns The logits.
   */
  logits(tokens: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, time] = tokens.shape;
      const { dim } = this.layout;
      const flat = tf.reshape(tf.cast(tokens, "int32"), [batch * time]);
      const [w, b] = this.variables as [tf.Variable, tf.Variable];
      const x = tf.gather(this.#features, flat) as tf.Tensor2D; // [batch·time, dim]
      const kind = tf.gather(this.#isInput, flat); // [batch·time], 1 = input symbol
      const isIn = tf.reshape(tf.cast(kind, "float32"), [batch * time, 1]);
      const z = tf.add(tf.matMul(tf.reshape(x, [batch * time, dim]), w), b); // [batch·time, V]
      const labelPart = tf.add(tf.mul(z, isIn), tf.mul(tf.sub(1, isIn), excluded));
      const pre = tf.gather(this.#preTable, kind);
      return tf.reshape(tf.concat([pre, labelPart], 1), [
        batch,
        time,
        this.vocabSize,
      ]) as tf.Tensor3D;
    });
  }

  /**
   * Batched decoding, by the rules of `backbones/generate.ts` (greedy at temperature 0, else seeded
   * softmax sampling in the top-p nucleus; log p at temperature 1; stop at `<eos>`, a stop string
   * or `maxNewTokens`). The next token depends on the last one only, so the cached path feeds the
   * last token of each row and `useCache: false` recomputes every position of the row.
   *
   * @param prompts Token ids per prompt (ids of the tokenizer).
   * @param options Decoding options.
   * @returns One generation per prompt.
   */
  generate(
    prompts: ReadonlyArray<ReadonlyArray<number>>,
    options: GenerateOptions,
  ): Promise<Generation[]> {
    checkGenerateInput(
      { vocabSize: this.tokenizer.vocabSize, contextLength: this.contextLength },
      prompts,
      options,
    );
    const temperature = options.temperature ?? 0;
    const topP = options.topP ?? 1;
    const stops = options.stop ?? [];
    const useCache = options.useCache ?? true;
    const next = uniform(options.seed ?? 0);
    const rows = prompts.map((p) => [...p]);
    const chosen: number[][] = prompts.map(() => []);
    const logprobs: number[][] = prompts.map(() => []);
    const texts: (string | undefined)[] = prompts.map(() => undefined);
    const done = prompts.map(() => options.maxNewTokens === 0);
    const vocab = this.vocabSize;
    for (let step = 0; step < options.maxNewTokens && done.some((d) => !d); step++) {
      const data = useCache
        ? this.#lastLogits(rows.map((r) => r[r.length - 1]!))
        : new Float32Array(
          rows.flatMap((r) => [...this.#lastLogits(r, true)]),
        );
      for (let b = 0; b < rows.length; b++) {
        if (done[b]) continue;
        const row = data.subarray(b * vocab, (b + 1) * vocab);
        const id = temperature === 0 ? argmaxRow(row) : sampleToken(row, temperature, topP, next());
        rows[b]!.push(id);
        if (id === this.tokenizer.eosId) {
          done[b] = true;
          continue;
        }
        chosen[b]!.push(id);
        logprobs[b]!.push(logSoftmaxRow(row)[id]!);
        if (stops.length > 0) {
          const text = this.tokenizer.decode(chosen[b]!);
          const at = Math.min(
            ...stops.filter((x) => x.length > 0).map((x) => {
              const i = text.indexOf(x);
              return i < 0 ? Infinity : i;
            }),
          );
          if (Number.isFinite(at)) {
            texts[b] = text.slice(0, at);
            chosen[b]!.pop();
            logprobs[b]!.pop();
            done[b] = true;
          }
        }
      }
    }
    return Promise.resolve(prompts.map((_, b) => ({
      tokenIds: chosen[b]!,
      text: texts[b] ?? this.tokenizer.decode(chosen[b]!),
      logprobs: logprobs[b]!,
    })));
  }

  /**
   * Logits of the last position: of one token per row, or (`whole`) of one whole row.
   *
   * @param ids The last token of each row, or one row.
   * @param whole Treat `ids` as one sequence and return its last position.
   * @returns `[rows, vocab]` or `[vocab]` values.
   */
  #lastLogits(ids: ReadonlyArray<number>, whole = false): Float32Array {
    return tf.tidy(() => {
      const shape: [number, number] = whole ? [1, ids.length] : [ids.length, 1];
      const all = this.logits(tf.tensor2d([...ids], shape, "int32"));
      const last = whole ? tf.slice(all, [0, ids.length - 1, 0], [1, 1, this.vocabSize]) : all;
      return last.dataSync() as Float32Array;
    });
  }

  /**
   * A frozen copy of the current weights.
   *
   * @returns The copy (the caller disposes it).
   */
  snapshot(): LanguageModel {
    const [w, b] = this.variables.map((v) => v.dataSync() as Float32Array) as [
      Float32Array,
      Float32Array,
    ];
    return new LinearSoftmax(this.layout, {
      contextLength: this.contextLength,
      weights: { w: Float32Array.from(w), b: Float32Array.from(b) },
      trainable: false,
    });
  }

  /**
   * Writes `model.safetensors` (`weight` `[dim, V]`, `bias` `[V]`), `config.json` and the
   * tokenizer files into a folder.
   *
   * @param dir The folder (created if missing).
   */
  async save(dir: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true });
    const [w, b] = this.variables as [tf.Variable, tf.Variable];
    const { dim, labels } = this.layout;
    await Effect.runPromise(writeSafetensors(
      `${dir}/model.safetensors`,
      new Map([
        ["weight", { shape: [dim, labels], data: (await w.data()) as Float32Array }],
        ["bias", { shape: [labels], data: (await b.data()) as Float32Array }],
      ]),
      { format: "pt", probsft: "linear-softmax" },
    ));
    const config = {
      architectures: ["LinearSoftmax"],
      model_type: "probsft-linear-softmax",
      features: this.layout.descriptor,
      hidden_size: dim,
      num_labels: labels,
      vocab_size: this.vocabSize,
      max_position_embeddings: this.contextLength,
      bos_token_id: this.tokenizer.bosId,
      eos_token_id: this.tokenizer.eosId,
      pad_token_id: this.tokenizer.padId,
    };
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2) + "\n");
    const files = this.tokenizer.toFiles();
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(files.tokenizer) + "\n");
    await Deno.writeTextFile(
      `${dir}/tokenizer_config.json`,
      JSON.stringify(files.config, null, 2) + "\n",
    );
  }

  /** Frees the weights and constant tables. */
  dispose(): void {
    for (const t of [...this.variables, this.#features, this.#isInput, this.#preTable]) {
      t.dispose();
    }
  }
}

/**
 * The (input token, label index) pairs of a prior corpus: every input symbol directly followed by
 * a label symbol.
 *
 * @param corpus The documents.
 * @param layout The layout.
 * @returns Token ids of the inputs and label indices, in corpus order.
 */
export function labelledPairs(
  corpus: ReadonlyArray<string>,
  layout: LinearLayout,
): { readonly inputs: Int32Array; readonly labels: Int32Array } {
  const inputs: number[] = [];
  const labels: number[] = [];
  for (const doc of corpus) {
    const ids = layout.tokenizer.encode(doc);
    for (let k = 0; k + 1 < ids.length; k++) {
      const label = ids[k + 1]! - layout.labelStart;
      if (layout.isInput[ids[k]!] === 1 && label >= 0 && label < layout.labels) {
        inputs.push(ids[k]!);
        labels.push(label);
      }
    }
  }
  return { inputs: Int32Array.from(inputs), labels: Int32Array.from(labels) };
}

/**
 * Pretrains a model in place: `steps` AdamW steps of label NLL on the corpus pairs.
 *
 * @param model The model (its variables are trained).
 * @param pairs From {@link labelledPairs}.
 * @param options Steps, peak learning rate, batch size and seed.
 * @returns The loss of the last step.
 */
export function pretrainLinear(
  model: LinearSoftmax,
  pairs: { readonly inputs: Int32Array; readonly labels: Int32Array },
  options: {
    readonly steps: number;
    readonly lr: number;
    readonly batchSize: number;
    readonly seed: number;
  },
): number {
  const { dim, labels, features } = model.layout;
  const next = uniform(options.seed + 104729);
  const optimizer = new AdamW(model.variables, { weightDecay: 0.01 });
  const [w, b] = model.variables as [tf.Variable, tf.Variable];
  const n = options.batchSize;
  let last = NaN;
  try {
    for (let step = 0; step < options.steps; step++) {
      const x = new Float32Array(n * dim);
      const y = new Int32Array(n);
      for (let r = 0; r < n; r++) {
        const k = Math.floor(next() * pairs.inputs.length);
        const id = pairs.inputs[k]!;
        x.set(features.subarray(id * dim, (id + 1) * dim), r * dim);
        y[r] = pairs.labels[k]!;
      }
      const lr = cosineLearningRate(step, {
        peak: options.lr,
        totalSteps: options.steps,
        warmupRatio: 0.05,
      });
      tf.tidy(() => {
        const xs = tf.tensor2d(x, [n, dim]);
        const oneHot = tf.oneHot(tf.tensor1d(y, "int32"), labels);
        const { value, grads } = tf.variableGrads(() => {
          const z = tf.add(tf.matMul(xs, w), b);
          return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(z), oneHot), 1))) as tf.Scalar;
        }, [w, b]);
        optimizer.apply([grads[w.name]!, grads[b.name]!], lr);
        if (step === options.steps - 1) last = value.dataSync()[0]!;
      });
    }
  } finally {
    optimizer.dispose();
  }
  return last;
}

function buildLinear(
  domain: DomainData,
  options: LinearSoftmaxParams,
  context: BackboneContext,
): Effect.Effect<LinearSoftmax, DataError | CheckpointError> {
  return Effect.gen(function* () {
    const layout = yield* linearLayout(domain.symbols ?? []);
    const fresh = (weights?: { w: Float32Array; b: Float32Array }) =>
      new LinearSoftmax(layout, {
        contextLength: options.contextLength,
        ...(weights ? { weights } : {}),
      });
    const { dim, labels } = layout;
    // W0 = c·W* + initStd·N(0, 1), b = 0.
    const w0 = normals(uniform(context.seed + 7121), dim * labels, options.initStd);
    if (options.capability > 0) {
      if (!layout.teacher) {
        return yield* new DataError({
          message:
            `capability ${options.capability} needs the teacher descriptor symbol "#teacher:<seed>:<scale>" in the domain's symbols`,
          file: "domain symbols",
        });
      }
      const { teacherSeed, teacherScale } = layout.teacher;
      const star = teacherWeights(teacherSeed, dim, labels, teacherScale);
      for (let k = 0; k < w0.length; k++) w0[k] = w0[k]! + options.capability * star[k]!;
    }
    const init = { w: w0, b: new Float32Array(labels) };
    if (options.pretrainSteps === 0) return fresh(init);
    const pairs = labelledPairs(domain.priorCorpus, layout);
    if (pairs.inputs.length === 0) {
      return yield* new DataError({
        message:
          `Cannot pretrain for ${options.pretrainSteps} steps: the prior corpus has no "x<i> y<j>" pairs`,
        file: "domain priorCorpus",
      });
    }
    const key = yield* Effect.promise(() =>
      sha256Hex(JSON.stringify({
        cacheVersion,
        descriptor: layout.descriptor,
        teacher: layout.teacher ?? null,
        capability: options.capability,
        initStd: options.initStd,
        symbols: domain.symbols,
        corpus: domain.priorCorpus,
        steps: options.pretrainSteps,
        lr: options.lr,
        batchSize: options.batchSize,
        seed: context.seed,
      }))
    );
    const path = `${context.cacheDir.replace(/\/+$/, "")}/linear-softmax-${
      key.slice(0, 32)
    }.safetensors`;
    const cached = yield* Effect.promise(() => Deno.stat(path).then(() => true, () => false));
    if (cached) {
      const file = yield* readSafetensors(path);
      const w = file.tensors.get("weight")?.data;
      const b = file.tensors.get("bias")?.data;
      if (!w || !b || w.length !== layout.dim * layout.labels || b.length !== layout.labels) {
        return yield* new CheckpointError({
          message:
            `Cached checkpoint ${path} does not hold weight [${layout.dim}, ${layout.labels}] and bias`,
          file: path,
        });
      }
      return fresh({ w: Float32Array.from(w), b: Float32Array.from(b) });
    }
    const model = fresh(init);
    const started = performance.now();
    const loss = pretrainLinear(model, pairs, {
      steps: options.pretrainSteps,
      lr: options.lr,
      batchSize: options.batchSize,
      seed: context.seed,
    });
    context.log(
      `linear-softmax: pretrained ${options.pretrainSteps} steps on ${pairs.inputs.length} pairs in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s, loss ${loss.toFixed(4)}`,
    );
    const [w, b] = model.variables as [tf.Variable, tf.Variable];
    yield* makeCacheFolder(context.cacheDir).pipe(
      Effect.tapError(() => Effect.sync(() => model.dispose())),
    );
    yield* writeSafetensors(
      path,
      new Map([
        ["weight", { shape: [layout.dim, layout.labels], data: w.dataSync() as Float32Array }],
        ["bias", { shape: [layout.labels], data: b.dataSync() as Float32Array }],
      ]),
      { format: "pt", probsft: "linear-softmax", steps: String(options.pretrainSteps) },
    ).pipe(Effect.tapError(() => Effect.sync(() => model.dispose())));
    return model;
  });
}

/** The linear-softmax toy model over the `teacher` domain's symbols; `pretrainSteps` is the knob. */
export const linearSoftmaxBackbone: Backbone<LinearSoftmaxParams> = {
  id: "linear-softmax",
  seeded: true,
  summary:
    "Linear softmax classifier over a domain's fixed feature vectors (the linear toy); capability c (W0 = c·W* + noise) or pretrainSteps is the knob",
  params,
  make: (options, context) =>
    Effect.gen(function* () {
      if (!context.domain) {
        return yield* new PluginError({
          message:
            `Backbone "linear-softmax" needs a domain with the feature convention (e.g. "teacher"); this cell has none`,
          plugin: "linear-softmax",
        });
      }
      return yield* buildLinear(context.domain, options, context);
    }),
};
