// JSON pointers (RFC 6901) and the templates of webhook inputs. A pointer is "" (the whole
// value) or "/"-separated reference tokens, each with "~1" for "/" and "~0" for "~" (decoded in
// that order, so "~01" is "~1"). An array index is "0" or a number without leading zeros; "-"
// (past the end) and anything else point at nothing. No package of the project provides this,
// and it is a dozen lines.

/** The tokens of a pointer, or null when it is not one (a non-empty pointer starts with "/"). */
export function parsePointer(pointer: string): string[] | null {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return null;
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** The value `pointer` points at in `doc`, or undefined when it points at nothing (or is no pointer). */
export function resolvePointer(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens === null) return undefined;
  let current: unknown = doc;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) return undefined;
      const index = Number(token);
      if (index >= current.length) return undefined;
      current = current[index];
    } else if (current !== null && typeof current === "object") {
      if (!Object.prototype.hasOwnProperty.call(current, token)) return undefined;
      current = (current as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return current;
}

/** A value as text in a template: a string as it is, anything else as JSON text, nothing as "". */
function asText(value: unknown): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

const WHOLE_PLACEHOLDER = /^\{\{(\/[^{}]*|)\}\}$/;
const PLACEHOLDER = /\{\{(\/[^{}]*|)\}\}/g;

/** A rendering stopped because its output went over `limit` characters (RenderOptions.maxChars). */
export class TemplateTooLargeError extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`the rendered template is over ${limit} characters`);
    this.name = "TemplateTooLargeError";
    this.limit = limit;
  }
}

export interface RenderOptions {
  /**
   * Stop with TemplateTooLargeError as soon as the output's text (its strings, keys, numbers and
   * each pointed value's JSON text) is over this many characters. Without it a small template
   * that names one large value many times renders without bound (default: no limit).
   */
  maxChars?: number;
}

/** One rendering: what is left of its budget, and the pointed values' texts (each computed once). */
interface Render {
  doc: unknown;
  limit: number;
  used: number;
  texts: Map<string, string>;
}

function spend(r: Render, chars: number): void {
  r.used += chars;
  if (r.used > r.limit) throw new TemplateTooLargeError(r.limit);
}

/** The text of the value at `pointer` ("" when it points at nothing), once per rendering. */
function textAt(r: Render, pointer: string): string {
  let text = r.texts.get(pointer);
  if (text === undefined) r.texts.set(pointer, (text = asText(resolvePointer(r.doc, pointer))));
  return text;
}

/**
 * Renders a template against `doc`: a JSON value whose strings may hold {{/pointer}}. A string
 * that is exactly one placeholder becomes the pointed value, of whatever JSON type ("" when it
 * points at nothing); elsewhere each placeholder is replaced by the value as text ("" when it
 * points at nothing). Keys are not templates. {{}} is the whole document. With `maxChars`, the
 * output is counted as it is built, so no more than that (plus one value) is ever held.
 */
export function renderTemplate(template: unknown, doc: unknown, opts: RenderOptions = {}): unknown {
  return render({ doc, limit: opts.maxChars ?? Infinity, used: 0, texts: new Map() }, template);
}

function render(r: Render, template: unknown): unknown {
  if (typeof template === "string") {
    const whole = WHOLE_PLACEHOLDER.exec(template);
    if (whole) {
      const value = resolvePointer(r.doc, whole[1]!) ?? "";
      // the value is shared, not copied, but the run input's JSON text holds it once per placeholder
      spend(r, textAt(r, whole[1]!).length);
      return value;
    }
    let end = 0;
    const out = template.replace(PLACEHOLDER, (match: string, pointer: string, offset: number) => {
      const text = textAt(r, pointer);
      spend(r, offset - end + text.length);
      end = offset + match.length;
      return text;
    });
    spend(r, template.length - end);
    return out;
  }
  if (Array.isArray(template)) return template.map((item) => render(r, item));
  if (template !== null && typeof template === "object") {
    return Object.fromEntries(
      Object.entries(template).map(([key, value]) => {
        spend(r, key.length);
        return [key, render(r, value)];
      }),
    );
  }
  if (typeof template === "number" || typeof template === "boolean") spend(r, String(template).length);
  return template;
}
