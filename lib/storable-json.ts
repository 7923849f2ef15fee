// Whether a JSON value (a parsed request body, a GraphQL JSON argument) can be stored by
// Postgres as it is, checked before anything serialises it or sends it to the database:
//   - text (strings and object keys) must hold no U+0000 (Postgres text and jsonb cannot store
//     it: 22021 / 22P05) and no lone UTF-16 surrogate (not valid Unicode: jsonb refuses "\ud800",
//     and a text parameter would silently become U+FFFD);
//   - numbers must be finite (JSON.parse reads 1e999 as Infinity, and JSON.stringify would turn
//     it into null without a word);
//   - values may be nested at most MAX_JSON_DEPTH levels below the top (JSON.stringify recurses
//     and throws a RangeError a few thousand levels down; Postgres's jsonb parser recurses too).
// The walk uses an explicit stack, stops at the first problem and never descends below
// MAX_JSON_DEPTH, so a hostile body costs at most one pass over what it holds.

/**
 * How deep a JSON value may be nested: a value may sit at most this many objects/arrays below
 * the top. The database checks the same bound for run input and signal payloads
 * (everruns_private.max_json_depth(), migration 000008).
 */
export const MAX_JSON_DEPTH = 64;

export interface StorableProblem {
  /** Where, e.g. `input.messages[0].content` (the root's own name when the value itself is wrong). */
  path: string;
  /** What is wrong, e.g. `holds U+0000 (NUL), which cannot be stored`. */
  problem: string;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAX_SHOWN_KEY = 40;
const MAX_SHOWN_PATH = 300;

function keySegment(key: string): string {
  if (IDENTIFIER.test(key) && key.length <= MAX_SHOWN_KEY) return `.${key}`;
  const shown = key.length > MAX_SHOWN_KEY ? `${key.slice(0, MAX_SHOWN_KEY)}…` : key;
  // JSON.stringify escapes NUL and lone surrogates: the path itself stays printable
  return `[${JSON.stringify(shown)}]`;
}

function showPath(segments: readonly string[], root: string): string {
  let path = root;
  for (const segment of segments) {
    if (path.length + segment.length > MAX_SHOWN_PATH) return `${path}…`;
    path += segment;
  }
  return path;
}

/** What is wrong with a string Postgres must store, or null when nothing is. */
export function textProblem(text: string): string | null {
  if (text.includes("\u0000")) return "holds U+0000 (NUL), which cannot be stored";
  if (!text.isWellFormed()) return "holds a lone UTF-16 surrogate (not valid Unicode), which cannot be stored";
  return null;
}

interface Frame {
  value: unknown;
  depth: number;
  /** how this value is reached from its parent: `.key`, `["odd key"]`, `[3]` ("" for the root) */
  segment: string;
  /** an object member's key, checked when the member is visited (document order) */
  key: string | null;
  parent: Frame | null;
}

/**
 * The first thing in `value` Postgres could not store as it is, or null. `root` names the value
 * in the path (`input`, `payload`; "" for a request body, whose fields are named bare).
 */
export function findStorableProblem(value: unknown, root = "", maxDepth = MAX_JSON_DEPTH): StorableProblem | null {
  const stack: Frame[] = [{ value, depth: 0, segment: "", key: null, parent: null }];
  const at = (frame: Frame) => {
    const segments: string[] = [];
    for (let f: Frame | null = frame; f; f = f.parent) segments.push(f.segment);
    const path = showPath(segments.reverse(), root).replace(/^\./, "");
    return path === "" ? "the value" : path;
  };
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { value: v, depth } = frame;
    if (frame.key !== null) {
      const keyProblem = textProblem(frame.key);
      if (keyProblem) return { path: at(frame), problem: `has a key that ${keyProblem}` };
    }
    if (typeof v === "string") {
      const problem = textProblem(v);
      if (problem) return { path: at(frame), problem };
    } else if (typeof v === "number") {
      if (!Number.isFinite(v)) return { path: at(frame), problem: "is a number too large to store (JSON numbers must be finite)" };
    } else if (v !== null && typeof v === "object") {
      if (depth >= maxDepth) {
        const entries = Array.isArray(v) ? v.length : Object.keys(v).length;
        if (entries > 0) return { path: at(frame), problem: `is nested deeper than ${maxDepth} levels` };
        continue;
      }
      // pushed in reverse: the first problem found is the first in document order
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], depth: depth + 1, segment: `[${i}]`, key: null, parent: frame });
      } else {
        const keys = Object.keys(v);
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i]!;
          stack.push({ value: (v as Record<string, unknown>)[key], depth: depth + 1, segment: keySegment(key), key, parent: frame });
        }
      }
    }
  }
  return null;
}

/** `path: problem`, for an error message. */
export function describeStorableProblem(p: StorableProblem): string {
  return `${p.path} ${p.problem}`;
}
