/**
 * probsft: supervised fine-tuning with probability-based objectives.
 *
 * @module
 */
export * from "./core/plugin.ts";
