/**
 * The built-in backbone parts:
 *
 * - `transformer`: a fresh, seeded tiny transformer over the domain's symbols;
 * - `pretrained`: the same, pretrained on the domain's prior corpus for `steps` steps (cached);
 *   `steps` is the capability knob (0 = random init, the model-weak end);
 * - `hf`: a local Hugging Face model directory.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { PluginError } from "../core/errors.ts";
import type {
  Backbone,
  BackboneContext,
  Footprint,
  LanguageModel,
  ParamsSchema,
} from "../core/plugin.ts";
import { loadHf, readHfConfig } from "./hf.ts";
import { pretrain, type PretrainOptions } from "./pretrain.ts";
import { SymbolTokenizer } from "./tokenizer.ts";
import {
  type ConfigOverrides,
  type Family,
  parameterCount,
  tinyConfig,
  Transformer,
  transformerActivationBytes,
  type TransformerConfig,
} from "./transformer.ts";

/** Params shared by {@link transformerBackbone} and {@link pretrainedBackbone}. */
export interface SizeParams {
  /** `gpt2` (learned positions, LayerNorm, GELU) or `llama` (RoPE, RMSNorm, SwiGLU). */
  readonly family: Family;
  /** The size preset. */
  readonly size: "tiny";
  /** Residual width (overrides the preset). */
  readonly dModel?: number;
  /** Number of blocks. */
  readonly nLayers?: number;
  /** Number of query heads. */
  readonly nHeads?: number;
  /** Number of key/value heads (`llama`). */
  readonly nKvHeads?: number;
  /** MLP hidden size. */
  readonly dMlp?: number;
  /** Longest sequence. */
  readonly contextLength?: number;
  /** Tie the head to the token embedding. */
  readonly tieEmbeddings?: boolean;
  /** Rotary base (`llama`). */
  readonly ropeTheta?: number;
}

const positiveInt = Schema.Int.check(Schema.isGreaterThan(0));

const sizeFields = {
  family: Schema.Literals(["gpt2", "llama"]).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("gpt2" as const)),
  ),
  size: Schema.Literals(["tiny"]).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("tiny" as const)),
  ),
  dModel: Schema.optionalKey(positiveInt),
  nLayers: Schema.optionalKey(positiveInt),
  nHeads: Schema.optionalKey(positiveInt),
  nKvHeads: Schema.optionalKey(positiveInt),
  dMlp: Schema.optionalKey(positiveInt),
  contextLength: Schema.optionalKey(positiveInt),
  tieEmbeddings: Schema.optionalKey(Schema.Boolean),
  ropeTheta: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))),
};

function overridesOf(params: SizeParams): ConfigOverrides {
  const out: Record<string, unknown> = {};
  for (
    const key of [
      "dModel",
      "nLayers",
      "nHeads",
      "nKvHeads",
      "dMlp",
      "contextLength",
      "tieEmbeddings",
      "ropeTheta",
    ] as const
  ) {
    if (params[key] !== undefined) out[key] = params[key];
  }
  if (params.nHeads !== undefined && params.nKvHeads === undefined) out.nKvHeads = params.nHeads;
  return out as ConfigOverrides;
}

function symbolsOf(
  id: string,
  context: BackboneContext,
): Effect.Effect<SymbolTokenizer, PluginError> {
  const symbols = context.domain?.symbols;
  if (!symbols || symbols.length === 0) {
    return Effect.fail(
      new PluginError({
        message:
          `Backbone "${id}" needs a domain with a symbol inventory (DomainData.symbols); this cell's domain has none`,
        plugin: id,
      }),
    );
  }
  return Effect.try({
    try: () => new SymbolTokenizer(symbols),
    catch: (error) =>
      new PluginError({ message: `Backbone "${id}": ${(error as Error).message}`, plugin: id }),
  });
}

/** Params of {@link transformerBackbone}. */
export type TransformerParams = SizeParams;

const transformerParams: ParamsSchema<TransformerParams> = Schema.Struct(sizeFields);

/** A fresh, seeded transformer over the domain's symbols. */
export const transformerBackbone: Backbone<TransformerParams> = {
  id: "transformer",
  seeded: true,
  summary:
    "Fresh seeded decoder-only transformer (gpt2 or llama family, tiny preset) on the domain's symbols",
  params: transformerParams,
  make: (params, context) =>
    Effect.gen(function* () {
      const tokenizer = yield* symbolsOf("transformer", context);
      return yield* Effect.try({
        try: (): LanguageModel =>
          new Transformer(tinyConfig(params.family, tokenizer.vocabSize, overridesOf(params)), {
            tokenizer,
            seed: context.seed,
          }),
        catch: (error) =>
          new PluginError({
            message: `Backbone "transformer": ${(error as Error).message}`,
            plugin: "transformer",
          }),
      });
    }),
};

/** Params of {@link pretrainedBackbone}. */
export interface PretrainedParams extends SizeParams {
  /** Pretraining steps on the prior corpus; 0 is the random init. */
  readonly steps: number;
  /** Peak learning rate. */
  readonly lr: number;
  /** Documents per batch. */
  readonly batchSize: number;
  /** Longest training sequence. */
  readonly seqLen: number;
}

const pretrainedParams: ParamsSchema<PretrainedParams> = Schema.Struct({
  ...sizeFields,
  steps: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(1000)),
  ),
  lr: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(1e-3)),
  ),
  batchSize: positiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(32))),
  seqLen: positiveInt.pipe(Schema.withDecodingDefaultKey(Effect.succeed(64))),
});

/**
 * The pretraining options of a `pretrained` backbone's params (a `transformer` backbone's are the
 * same with 0 steps).
 *
 * @param params The decoded params (`steps`, `lr`, `batchSize`, `seqLen` default to the
 *   schema's defaults when absent).
 * @param seed The base seed.
 * @returns The options {@link pretrain} is called with.
 */
export function pretrainOptionsOf(
  params: SizeParams & Partial<PretrainedParams>,
  seed: number,
): PretrainOptions {
  return {
    family: params.family,
    overrides: overridesOf(params),
    steps: params.steps ?? 0,
    lr: params.lr ?? 1e-3,
    batchSize: params.batchSize ?? 32,
    seqLen: params.seqLen ?? 64,
    seed,
  };
}

/** A tiny transformer pretrained on the domain's prior corpus (cached by content hash). */
export const pretrainedBackbone: Backbone<PretrainedParams> = {
  id: "pretrained",
  seeded: true,
  summary:
    "Tiny transformer pretrained `steps` steps on the domain's prior corpus (cached); the capability knob",
  params: pretrainedParams,
  make: (params, context) =>
    Effect.gen(function* () {
      if (!context.domain) {
        return yield* new PluginError({
          message:
            `Backbone "pretrained" needs a domain (its prior corpus and symbols); this cell has none`,
          plugin: "pretrained",
        });
      }
      return yield* pretrain(context.domain, pretrainOptionsOf(params, context.seed), context);
    }),
};

/** Params of {@link hfBackbone}. */
export interface HfParams {
  /** A local Hugging Face model directory. */
  readonly path: string;
  /**
   * Render prompts and conversations with the model's chat template when it has one (verl's
   * SFT dataset and Qwen2.5-Math's evaluation do). @default true
   */
  readonly chatTemplate: boolean;
}

const hfParams: ParamsSchema<HfParams> = Schema.Struct({
  path: Schema.String.check(Schema.isNonEmpty()),
  chatTemplate: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(true))),
});

/** A local Hugging Face model directory (Llama, Qwen2, GPT-2). */
export const hfBackbone: Backbone<HfParams> = {
  id: "hf",
  seeded: false,
  summary:
    "A local Hugging Face model directory (LlamaForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel)",
  params: hfParams,
  make: (params, context) =>
    loadHf(params.path, { noChatTemplate: !params.chatTemplate, log: (line) => context.log(line) }),
  footprint: (params) => Effect.map(readHfConfig(params.path), footprintOfConfig),
};

/**
 * The memory-plan footprint of a transformer config (nothing allocated).
 *
 * @param config The config.
 * @returns Parameters, vocabulary, context and the activation estimate.
 */
export function footprintOfConfig(config: TransformerConfig): Footprint {
  return {
    parameters: parameterCount(config),
    vocabSize: config.vocabSize,
    contextLength: config.contextLength,
    activationBytes: (rows, time, recompute) =>
      transformerActivationBytes(config, rows, time, recompute),
  };
}
