/**
 * A module that exports no plugin, for the loader's error test.
 *
 * @module
 */
/** Not a plugin. */
export const nothing = 1;
