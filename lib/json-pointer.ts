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

/**
 * Renders a template against `doc`: a JSON value whose strings may hold {{/pointer}}. A string
 * that is exactly one placeholder becomes the pointed value, of whatever JSON type ("" when it
 * points at nothing); elsewhere each placeholder is replaced by the value as text ("" when it
 * points at nothing). Keys are not templates. {{}} is the whole document.
 */
export function renderTemplate(template: unknown, doc: unknown): unknown {
  if (typeof template === "string") {
    const whole = WHOLE_PLACEHOLDER.exec(template);
    if (whole) return resolvePointer(doc, whole[1]!) ?? "";
    return template.replace(PLACEHOLDER, (_m, pointer: string) => asText(resolvePointer(doc, pointer)));
  }
  if (Array.isArray(template)) return template.map((item) => renderTemplate(item, doc));
  if (template !== null && typeof template === "object") {
    return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, renderTemplate(value, doc)]));
  }
  return template;
}
