/**
 * Parsing one JSON text as the common tools do, with the position of the first error. The grammar
 * is RFC 8259 plus the literals `NaN`, `Infinity` and `-Infinity`, which Python's `json` writes
 * by default (`allow_nan=True`) and which Python's `json`, pandas' `read_json` (since 1.0) and
 * pyarrow's JSON reader (RapidJSON with `kParseNanAndInfFlag`, the reader behind Hugging Face
 * `datasets`) all load; they become the numbers `NaN`, `Infinity` and `-Infinity`. Everything else
 * that `JSON.parse` refuses is refused: control characters (NUL included) outside or unescaped
 * inside strings, a byte-order mark other than at the start of a file, trailing commas, comments,
 * single quotes, truncated values.
 *
 * @module
 */

/** A parsed value, or where and why the text is not JSON. */
export type JsonParse =
  | { readonly value: unknown }
  | {
    /** What is wrong, one line. */
    readonly error: string;
    /** The 0-based offset (UTF-16 code units) in the text where it went wrong. */
    readonly offset: number;
  };

class JsonSyntax extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** Names a character for a message: `'x'`, or `U+0000` for an invisible one. */
export function describeChar(ch: string | undefined): string {
  if (ch === undefined) return "end of input";
  const code = ch.codePointAt(0)!;
  const u = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  if (code === 0xfeff) return `${u} (a byte-order mark)`;
  if (code < 0x20 || (code >= 0x7f && code <= 0xa0) || /\s/u.test(ch)) return u;
  return `'${ch}'`;
}

const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
// Control characters are exactly what a JSON string may not hold unescaped.
// deno-lint-ignore no-control-regex
const plainPattern = /[^"\\\u0000-\u001f]*/y;
const escapes: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string, at = this.i): never {
    throw new JsonSyntax(what, at);
  }

  ws(): void {
    while (this.i < this.s.length && isWs(this.s.charCodeAt(this.i))) this.i++;
  }

  literal(word: string, value: unknown): unknown {
    if (!this.s.startsWith(word, this.i)) {
      this.fail(`unexpected ${describeChar(this.s[this.i])}, expected a value`);
    }
    this.i += word.length;
    return value;
  }

  value(): unknown {
    const c = this.s[this.i];
    switch (c) {
      case "{":
        return this.object();
      case "[":
        return this.array();
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      case "N":
        return this.literal("NaN", NaN);
      case "I":
        return this.literal("Infinity", Infinity);
      case undefined:
        return this.fail("unexpected end of input, expected a value");
    }
    if (this.s.startsWith("-Infinity", this.i)) return this.literal("-Infinity", -Infinity);
    numberPattern.lastIndex = this.i;
    const match = numberPattern.exec(this.s);
    if (match === null) this.fail(`unexpected ${describeChar(c)}, expected a value`);
    this.i += match[0].length;
    return Number(match[0]);
  }

  object(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (this.s[this.i] === "}") {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') {
        this.fail(`unexpected ${describeChar(this.s[this.i])}, expected a "quoted" key`);
      }
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ":") {
        this.fail(`unexpected ${describeChar(this.s[this.i])}, expected ':' after a key`);
      }
      this.i++;
      this.ws();
      const value = this.value();
      // As JSON.parse: "__proto__" is an own property, never the prototype.
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.ws();
      const next = this.s[this.i];
      this.i++;
      if (next === "}") return out;
      if (next !== ",") {
        this.fail(`unexpected ${describeChar(next)}, expected ',' or '}'`, this.i - 1);
      }
    }
  }

  array(): unknown[] {
    const out: unknown[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === "]") {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value());
      this.ws();
      const next = this.s[this.i];
      this.i++;
      if (next === "]") return out;
      if (next !== ",") {
        this.fail(`unexpected ${describeChar(next)}, expected ',' or ']'`, this.i - 1);
      }
    }
  }

  string(): string {
    const start = this.i;
    this.i++;
    let out = "";
    for (;;) {
      plainPattern.lastIndex = this.i;
      const plain = plainPattern.exec(this.s)![0];
      out += plain;
      this.i += plain.length;
      const c = this.s[this.i];
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === undefined) this.fail("unterminated string", start);
      if (c !== "\\") this.fail(`unescaped control character ${describeChar(c)} in a string`);
      const e = this.s[this.i + 1];
      if (e === "u") {
        const digits = this.s.slice(this.i + 2, this.i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail("invalid \\u escape in a string");
        out += String.fromCharCode(parseInt(digits, 16));
        this.i += 6;
      } else if (e !== undefined && e in escapes) {
        out += escapes[e];
        this.i += 2;
      } else this.fail(`invalid escape \\${e ?? ""} in a string`);
    }
  }
}

/**
 * Parses one JSON text (see the module doc). Standard JSON takes the native `JSON.parse`; only a
 * text it refuses goes through this module's parser, which accepts `NaN`/`Infinity` and finds the
 * offset of the first error.
 *
 * @param text The JSON text (a whole file or one line).
 * @returns The value, or the error with its offset.
 */
export function parseJsonValue(text: string): JsonParse {
  try {
    return { value: JSON.parse(text) };
  } catch {
    // fall through to the parser that locates the error
  }
  const parser = new Parser(text);
  try {
    parser.ws();
    const value = parser.value();
    parser.ws();
    if (parser.i < text.length) {
      parser.fail(`unexpected ${describeChar(text[parser.i])} after the value`);
    }
    return { value };
  } catch (error) {
    if (error instanceof JsonSyntax) return { error: error.message, offset: error.offset };
    if (error instanceof RangeError) return { error: "nested too deeply", offset: parser.i };
    throw error;
  }
}
