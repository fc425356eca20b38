/**
 * Content hashes: the SHA-256 of text or bytes as lowercase hex, used for cell keys, cache entries
 * and checkpoint checksums.
 *
 * @module
 */

/**
 * SHA-256 as lowercase hex.
 *
 * @param data Text (hashed as UTF-8) or bytes.
 * @returns 64 hex digits.
 */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
