/**
 * Plugins: the built-in plugin and the loader for third-party plugins.
 *
 * @module
 */
// Starts the default tensor backend, so that this entry works with no set-up call.
import "../core/backend/mod.ts";
export * from "./builtins.ts";
