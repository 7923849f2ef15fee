// The W3C `tracestate` (Trace Context level 1, docs/observability.md "Traces"): vendor-specific
// state that travels with a traceparent. Everruns keeps a caller's tracestate with the run
// (runs.trace_state) and sends it unchanged beside every traceparent the run sends; it edits no
// member of its own. db/migrations/000042_trace_state.sql (everruns_private.valid_tracestate)
// checks the same syntax on the normalized value.

/** W3C: at most 32 list-members (more are truncated). */
const MAX_MEMBERS = 32;
/** W3C: a tracestate of at most 512 characters (runs.trace_state's check too). */
const MAX_LENGTH = 512;
/** W3C: when truncating, list-members longer than this go first. */
const LARGE_MEMBER = 128;
/**
 * A list-member `key=value`: a simple key (`[a-z][a-z0-9_-*\/]{0,255}`) or a multi-tenant key
 * (`tenant@system`); a value of 1 to 256 printable ASCII characters except "," and "=", not ending
 * in a space.
 */
const MEMBER =
  /^([a-z][a-z0-9_*/-]{0,255}|[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13})=([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])$/;

/**
 * `value` normalized (its list-members joined by ",", without the empty ones or the whitespace
 * around them, truncated to W3C's limits) when it is a valid tracestate, else null: an invalid
 * tracestate is ignored, as W3C says. Several `tracestate` headers (an array) are one list, combined with ",", as W3C allows. An
 * empty list is none (null).
 */
export function validTracestate(value: unknown): string | null {
  const text = Array.isArray(value) ? (value.every((v) => typeof v === "string") ? value.join(",") : null) : value;
  if (typeof text !== "string") return null;
  const members: string[] = [];
  const keys = new Set<string>();
  // OWS around the commas (spaces and tabs); empty members (",,") are allowed and dropped
  for (const raw of text.split(",")) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, "");
    if (member === "") continue;
    const m = MEMBER.exec(member);
    if (!m) return null;
    const key = m[1]!;
    if (keys.has(key)) return null;
    keys.add(key);
    members.push(member);
  }
  // W3C's limits, a longer list truncated as W3C says: past 32 list-members the right-most go;
  // past 512 characters, list-members longer than 128 characters go first (the right-most of them
  // first), then list-members from the end
  members.splice(MAX_MEMBERS);
  let length = members.reduce((n, member) => n + member.length, members.length - 1);
  while (length > MAX_LENGTH) {
    const large = members.findLastIndex((member) => member.length > LARGE_MEMBER);
    const [gone] = members.splice(large === -1 ? members.length - 1 : large, 1);
    length -= gone!.length + 1;
  }
  return members.length === 0 ? null : members.join(",");
}
