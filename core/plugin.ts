/**
 * The contracts of probsft: the parts a plugin contributes (objectives, backbones, benchmarks,
 * domains) and the plugin value that bundles them. The core knows these shapes and nothing about
 * any particular objective, model or domain.
 *
 * Hooks are declared with method syntax so that `Objective<P>` widens to `Objective<unknown>`;
 * the core keeps that sound by decoding params with the same part's own Schema before any call.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Effect, Schema } from "effect";
import type { CheckpointError, DataError, PluginError } from "./errors.ts";

/** The Schema that decodes a part's params from config JSON. */
export type ParamsSchema<P> = Schema.Codec<P, unknown>;

/** A part chosen in a config: `{ "id": "general-family", "params": { "alpha": 10 } }`. */
export interface PartChoice {
  /** The kebab-case id of the part. */
  readonly id: string;
  /** Params, decoded by the part's own Schema; absent means the Schema's defaults. */
  readonly params?: unknown;
}

/** The kinds of part a plugin can contribute. */
export type PartKind = "objective" | "backbone" | "benchmark" | "domain";

/**
 * Activation recomputation (gradient checkpointing) in the backward pass: `true` recomputes every
 * block's activations from its saved input, `false` none, a number n the first n blocks
 * (Megatron-LM's `recompute_num_layers` with its `block` method), which buys memory between the
 * two for compute between the two.
 */
export type Recompute = boolean | number;

/** What every part has: an id, a one-line summary and a Schema for its params. */
export interface Part<P> {
  /** Kebab-case, unique among the parts of its kind. */
  readonly id: string;
  /** One line, printed by `deno task list`. */
  readonly summary: string;
  /** Decodes (and validates) this part's params. */
  readonly params: ParamsSchema<P>;
  /** Marks a part whose definition is not settled in the literature. */
  readonly experimental?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Objectives

/** What an objective needs beyond the target log-probabilities; checked before step 1. */
export interface ObjectiveNeeds {
  /** The full logits `[batch, time, vocab]` in the {@link TokenView}. */
  readonly logits?: boolean;
  /** The frozen base model's logits `[batch, time, vocab]` (the backbone must offer a snapshot). */
  readonly referenceLogits?: boolean;
  /** Percentiles of the base model's target-token probabilities (for percentile thresholds). */
  readonly baseStatistics?: boolean;
}

/** What the core computes once per batch for the objective; every 2-D tensor is `[batch, time]`. */
export interface TokenView {
  /** log p(y_t | y_<t, x) of each target token, fp32, differentiable. */
  readonly logProbTarget: tf.Tensor2D;
  /** 1 where the token is supervised (response), 0 for prompt and padding. */
  readonly mask: tf.Tensor2D;
  /** The target token ids (int32). */
  readonly targets: tf.Tensor2D;
  /** The model's logits `[batch, time, vocab]`, present when `needs.logits`. */
  readonly logits?: tf.Tensor3D;
  /** The frozen base model's logits, present when `needs.referenceLogits`; no gradient. */
  readonly referenceLogits?: tf.Tensor3D;
  /** A per-step seed for objectives that sample (deterministic given the run's seed). */
  readonly seed: number;
}

/** An objective's per-token output. The core masks and reduces it; the objective never does. */
export interface PerTokenLoss {
  /** The per-token loss `[batch, time]`. */
  readonly loss: tf.Tensor;
  /**
   * Optional 0/1 gate `[batch, time]` with no gradient: gated-out tokens leave both the sum and
   * the denominator of the token mean (thresholded objectives).
   */
  readonly keep?: tf.Tensor;
}

/** Statistics of the base model on the training targets, for params that depend on them. */
export interface BaseStatistics {
  /** The base model's target-token probability at a percentile in [0, 100]. */
  quantile(percent: number): number;
}

/**
 * A training objective: a per-token function of the model's output, usually of p alone.
 * Its doc gives the formula, the descent weight W_f(p) = −f′(p)·p·(1−p) and its source.
 */
export interface Objective<P> extends Part<P> {
  /** What the objective reads beyond `logProbTarget`; the core checks it before step 1. */
  readonly needs?: ObjectiveNeeds;
  /** Where the objective comes from (paper, code). */
  readonly source?: string;
  /** Closed-form descent weight W_f(p) on the target logit, when the loss is a function of p. */
  descentWeight?(p: number, params: P): number;
  /** Closed-form per-token loss f(p), when the loss is a function of p alone. */
  lossAt?(p: number, params: P): number;
  /**
   * Closed-form gate: whether a supervised token of probability p is kept (the thresholded
   * objectives' 1{p ∈ I}); absent means every supervised token is kept. The theory checks
   * compare it with the `keep` that {@link Objective.perToken} returns.
   */
  keptAt?(p: number, params: P): boolean;
  /** Fills params that depend on the base model (percentile thresholds) before training. */
  resolve?(params: P, base: BaseStatistics): P;
  /** Synchronous tfjs, safe inside `tf.tidy`; returns per-token values and an optional gate. */
  perToken(view: TokenView, params: P): PerTokenLoss;
}

// ---------------------------------------------------------------------------------------------
// Backbones

/** Turns text into token ids and back. */
export interface Tokenizer {
  /** Number of ids the tokenizer can produce. */
  readonly vocabSize: number;
  /** End-of-sequence id. */
  readonly eosId: number;
  /** Beginning-of-sequence id, if the model uses one. */
  readonly bosId?: number;
  /** Padding id (never supervised). */
  readonly padId: number;
  /**
   * Ids put before a text when special tokens are added (transformers' `tokenizer(text)`):
   * `[bos]` for Llama, `[]` for Qwen2 and GPT-2. Absent: `[bosId]` when there is a BOS.
   */
  readonly specialPrefix?: ReadonlyArray<number>;
  /** Encodes text without special tokens. */
  encode(text: string): number[];
  /** Decodes ids, dropping special tokens. */
  decode(ids: ReadonlyArray<number>): string;
  /**
   * Renders a conversation with the model's chat template (transformers'
   * `apply_chat_template(…, tokenize=False)`); absent when the model has none. The text is
   * encoded without special tokens (the template writes them).
   */
  applyChatTemplate?(
    messages: ReadonlyArray<ChatMessage>,
    options: { readonly addGenerationPrompt: boolean },
  ): string;
}

/** One message of a conversation. */
export interface ChatMessage {
  /** `system`, `user`, `assistant` (or another role the chat template knows). */
  readonly role: string;
  /** The text. */
  readonly content: string;
}

/** How to decode new tokens. */
export interface GenerateOptions {
  /** Most new tokens per prompt. */
  readonly maxNewTokens: number;
  /** 0 is greedy; otherwise softmax temperature. */
  readonly temperature?: number;
  /** Nucleus sampling mass in (0, 1]. */
  readonly topP?: number;
  /** Seed of the sampler. */
  readonly seed?: number;
  /** Strings that end a completion (not included in it). */
  readonly stop?: ReadonlyArray<string>;
  /** Use the key/value cache (default true); false recomputes the prefix, for checks. */
  readonly useCache?: boolean;
}

/** One completion. */
export interface Generation {
  /** The new token ids (the stop token excluded). */
  readonly tokenIds: ReadonlyArray<number>;
  /** Their decoded text, cut at a stop string. */
  readonly text: string;
  /** log p (temperature 1, before sampling) of each new token. */
  readonly logprobs: ReadonlyArray<number>;
}

/** A decoder-only language model ready to train and generate. */
export interface LanguageModel {
  /** Size of the output layer. */
  readonly vocabSize: number;
  /** Longest sequence the model accepts. */
  readonly contextLength: number;
  /** The tokenizer that goes with the weights. */
  readonly tokenizer: Tokenizer;
  /** The trainable weights. */
  readonly variables: ReadonlyArray<tf.Variable>;
  /** Logits `[batch, time, vocab]` of int32 tokens `[batch, time]`; synchronous, tidy-safe. */
  logits(tokens: tf.Tensor2D): tf.Tensor3D;
  /**
   * Final hidden states `[batch, time, d]` such that logits = hidden · {@link headWeight}; with
   * both, the loss applies the head chunk by chunk and never holds `[batch, time, vocab]`.
   */
  hidden?(tokens: tf.Tensor2D, options?: { readonly recompute?: Recompute }): tf.Tensor3D;
  /** The LM head `[d, vocab]`, on the gradient path to the weights (see {@link hidden}). */
  headWeight?(): tf.Tensor2D;
  /**
   * The LM head as `[vocab, d]` rows (logits = hidden · rowsᵀ) where the model stores it so (a
   * tied token embedding), else `undefined`: the chunked loss then multiplies by the transpose
   * inside the product instead of materializing {@link headWeight}'s `[d, vocab]` copy (and its
   * gradient's) every step.
   */
  headRows?(): tf.Tensor2D | undefined;
  /**
   * An estimate of the bytes of activations the forward and backward passes of a
   * `[rows, time]` batch keep (the LM head's logits excluded), for the memory plan; with
   * `recompute`, when only each block's input is kept.
   */
  activationBytes?(rows: number, time: number, recompute?: Recompute): number;
  /** Batched decoding with a key/value cache. */
  generate(
    prompts: ReadonlyArray<ReadonlyArray<number>>,
    options: GenerateOptions,
  ): Promise<Generation[]>;
  /** A frozen copy of the current weights (for reference logits). */
  snapshot(): LanguageModel;
  /** Writes the weights, config and tokenizer in the Hugging Face layout. */
  save(dir: string): Promise<void>;
  /** Frees the weights. */
  dispose(): void;
}

/** What a backbone gets from the run that builds it. */
export interface BackboneContext {
  /** Seed for initialisation and any pretraining. */
  readonly seed: number;
  /** The domain of the cell (prior corpus and symbol inventory), when there is one. */
  readonly domain?: DomainData;
  /** A folder for cached checkpoints (content-addressed). */
  readonly cacheDir: string;
  /** Progress lines. */
  log(line: string): void;
}

/** A model family or a model source (init, Hugging Face directory, pretrained on a domain). */
export interface Backbone<P> extends Part<P> {
  /**
   * Whether the built weights depend on {@link BackboneContext.seed} (a random initialisation, a
   * pretraining run's order); false for a fixed checkpoint. Reports use it to say whether a
   * spread over seeds includes base-model variance; absent means unknown.
   */
  readonly seeded?: boolean;
  /** Builds the model; the caller disposes it. */
  make(
    params: P,
    context: BackboneContext,
  ): Effect.Effect<LanguageModel, PluginError | CheckpointError | DataError>;
  /**
   * The model's size without building it (no weights read or allocated), for a memory plan
   * printed before a run (`deno task experiment --plan`).
   */
  footprint?(
    params: P,
    context: BackboneContext,
  ): Effect.Effect<Footprint, PluginError | CheckpointError | DataError>;
}

/** What a memory plan needs of a model: its size, vocabulary and activation estimate. */
export interface Footprint {
  /** Trainable parameters. */
  readonly parameters: number;
  /** Vocabulary size (columns of the LM head). */
  readonly vocabSize: number;
  /** Longest sequence the model accepts. */
  readonly contextLength: number;
  /** Activation bytes of a `[rows, time]` batch (see {@link LanguageModel.activationBytes}). */
  activationBytes?(rows: number, time: number, recompute?: Recompute): number;
}

// ---------------------------------------------------------------------------------------------
// Benchmarks and domains

/** One evaluation item. */
export interface Example {
  /** Stable id within its set. */
  readonly id: string;
  /** The prompt given to the model. */
  readonly prompt: string;
  /** The reference answer. */
  readonly reference: string;
  /** Options of a multiple-choice item. */
  readonly options?: ReadonlyArray<string>;
  /** The prompt as a conversation (rendered with the chat template when the model has one). */
  readonly messages?: ReadonlyArray<ChatMessage>;
}

/** A message of a conversational SFT example and whether its tokens are supervised. */
export interface SftMessage extends ChatMessage {
  /** Supervised (in the loss); default: assistant messages only (completion-only loss). */
  readonly train?: boolean;
}

/**
 * One supervised fine-tuning example (only its supervised tokens enter the loss):
 *
 * - a prompt/response pair: the response and an appended end-of-sequence token are supervised;
 *   with a chat template the prompt is rendered as one user turn with the generation prompt
 *   (verl's SFT dataset, the paper's code); an empty prompt is plain language modelling on the
 *   response (TRL's `text` format, never templated);
 * - a conversation (`messages`): rendered whole by the model's chat template; the supervised
 *   messages (by default the assistant turns) are the tokens each adds to the rendering, and
 *   `prompt`/`response` hold a plain-text view (first user turn, last assistant turn) for
 *   de-duplication and display.
 */
export interface SftExample {
  /** The prompt (masked out of the loss). */
  readonly prompt: string;
  /** The target response (the end-of-sequence token is appended by the core). */
  readonly response: string;
  /** A conversation rendered with the chat template instead of prompt and response. */
  readonly messages?: ReadonlyArray<SftMessage>;
  /**
   * Supervised targets of a prompt/response pair that the domain knows to be forced: fixed by
   * the format rather than by what the model knows (separators, answer markers, the end token).
   * They are still trained on; the capability probe reports them apart and places the model on
   * the rest. Ignored for conversations.
   */
  readonly forced?: ForcedTargets;
}

/**
 * Which targets of a prompt/response pair are forced. Spans are character ranges of the
 * response, so a domain marks them without knowing the tokenizer: a response token is forced
 * when every non-space character it covers lies in a span.
 */
export interface ForcedTargets {
  /** Half-open character ranges `[start, end)` of `response`. */
  readonly spans?: ReadonlyArray<readonly [number, number]>;
  /** The end-of-sequence target the core appends is forced. */
  readonly eos?: boolean;
}

/** A decoding setting under which a benchmark is scored, e.g. greedy or avg@16 at T = 1. */
export interface Decoding {
  /** Name of the metric column: "greedy", "avg@4", … */
  readonly name: string;
  /** 0 is greedy. */
  readonly temperature: number;
  /** Samples per item; the score is their mean. */
  readonly samples: number;
  /** Most new tokens. */
  readonly maxNewTokens: number;
  /** Nucleus mass. */
  readonly topP?: number;
  /** Strings that end a completion. */
  readonly stop?: ReadonlyArray<string>;
}

/** A scoring rule: given an item and a completion, a score in [0, 1]. */
export interface Benchmark<P> extends Part<P> {
  /** The domain family it scores ("math", "medical", "general", "model-weak", …). */
  readonly family: string;
  /** Pure scoring of one completion. */
  score(example: Example, completion: string, params: P): number;
}

/** A held-out set of a domain, scored by a registered benchmark under some decodings. */
export interface BenchmarkSet {
  /** Name of the set, unique in the domain ("addition-test"). */
  readonly name: string;
  /** The benchmark (scoring rule) that scores it. */
  readonly benchmark: PartChoice;
  /** The items. */
  readonly examples: ReadonlyArray<Example>;
  /** The decodings it is scored under. */
  readonly decodings: ReadonlyArray<Decoding>;
}

/** What a domain yields: a prior corpus, an SFT set and held-out benchmarks. */
export interface DomainData {
  /** Documents a tiny backbone is pretrained on (how long sets the capability). */
  readonly priorCorpus: ReadonlyArray<string>;
  /** The supervised fine-tuning pairs. */
  readonly sft: ReadonlyArray<SftExample>;
  /** The held-out sets, disjoint from the SFT set. */
  readonly benchmarks: ReadonlyArray<BenchmarkSet>;
  /** The headline score key, `"<set name>/<decoding name>"`; higher is better. */
  readonly primary: string;
  /**
   * The symbol inventory of a synthetic domain: its texts are these symbols joined by single
   * spaces, and a symbol tokenizer maps each to one id. Absent for natural-language domains.
   */
  readonly symbols?: ReadonlyArray<string>;
}

/** A domain: a generator or loader of SFT data and benchmarks. */
export interface Domain<P> extends Part<P> {
  /** Ids of the benchmarks (scoring rules) its sets use. */
  readonly benchmarks: ReadonlyArray<string>;
  /** Generates or loads the data; the same params and seed give the same data. */
  load(params: P, seed: number): Effect.Effect<DomainData, DataError>;
}

// ---------------------------------------------------------------------------------------------
// Plugins

/** What a plugin module exports: a plain value, no import-time side effects. */
export interface Plugin {
  /** Its name, e.g. its JSR package name "@acme/focal-loss". */
  readonly name: string;
  /** Objectives it contributes. */
  readonly objectives?: ReadonlyArray<Objective<unknown>>;
  /** Backbones it contributes. */
  readonly backbones?: ReadonlyArray<Backbone<unknown>>;
  /** Benchmarks (scoring rules) it contributes. */
  readonly benchmarks?: ReadonlyArray<Benchmark<unknown>>;
  /** Domains it contributes. */
  readonly domains?: ReadonlyArray<Domain<unknown>>;
}
