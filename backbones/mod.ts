/**
 * The built-in backbones.
 *
 * @module
 */
import type { Backbone } from "../core/plugin.ts";

/** Every built-in backbone. */
export const backbones: ReadonlyArray<Backbone<unknown>> = [];
