// fast-check arbitraries of hostile input for `everruns fuzz` (scripts/fuzz/index.ts): JSON of
// every type and shape (nested up to ~200 levels, strings up to ~200 kB, U+0000 and lone
// surrogates in values and keys, boundary numbers), run inputs and agent configs that look right
// but carry hostile values, raw request bodies that are not JSON at all, hostile GraphQL documents.
import fc from "fast-check";

/** Nesting deeper than the API's 64-level JSON limit. */
export const MAX_NEST = 200;
/** The longest generated string (UTF-16 code units). */
export const MAX_HUGE = 200_000;

/** Any UTF-16 code unit: U+0000, lone surrogates, the BOM, U+FFFF, … */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));

const NASTY_STRINGS = [
  "",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udfff",
  "\udc00\ud800",
  "🙂",
  "\ufeff",
  "\uffff",
  "\u202eevil",
  " ",
  "' or 1=1 --",
  "'; drop table everruns.runs; --",
  "$1",
  "%s%s%n",
  "null",
  "undefined",
  "NaN",
  "-NaN",
  "Infinity",
  "-Infinity",
  "1e999",
  "-0",
  "0x10",
  "__proto__",
  "constructor",
  "prototype",
  '{"a":',
  "\\",
  "\\u0000",
  "%00",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
];

/** A very long string of one character (sometimes a NUL at its end). */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom("a", "é", "🙂", "\u0000", "\ud800", "\\", '"'), fc.integer({ min: 1_000, max: MAX_HUGE }), fc.boolean())
  .map(([c, n, nul]) => c.repeat(Math.max(1, Math.floor(n / c.length))) + (nul ? "\u0000" : ""));

/** Strings a client should not send: NUL, lone surrogates, injection, number-ish words, very long. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: anyCodeUnit, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: hugeString },
);

/** A hostile string Postgres can store: NUL written as "\\0", lone surrogates as U+FFFD (what a run carries once accepted). */
export const storableString: fc.Arbitrary<string> = hostileString.map((s) =>
  s.replaceAll("\u0000", "\\0").replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"),
);

/** Keys of objects: ordinary words, and the same hostile strings (without the huge ones). */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("messages", "role", "content", "id", "state", "tools", "a"),
  fc.constantFrom(...NASTY_STRINGS),
  fc.string({ unit: anyCodeUnit, maxLength: 8 }),
);

/** Boundary numbers (every one JSON can carry: NaN and ±Infinity become null in JSON.stringify). */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    0.5,
    1e-7,
    5e-324,
    1e308,
    -1e308,
    2 ** 31 - 1,
    2 ** 31,
    -(2 ** 31),
    2 ** 32,
    2 ** 53,
    2 ** 53 + 1,
    -(2 ** 53 + 1),
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    Number.EPSILON,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Values a number-typed field may get: numbers, number-ish strings, wrong types. */
export const numberish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "-0", "1", "", null, true, false, [], {}) },
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(fc.constant(null), fc.boolean(), hostileNumber, hostileString);

/** Nested arrays/objects `depth` levels deep around a leaf. */
export const deepNest: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 1, max: MAX_NEST }), fc.constantFrom("array", "object", "mixed"), leaf)
  .map(([depth, shape, inner]) => {
    let v: unknown = inner;
    for (let i = 0; i < depth; i++) {
      const asArray = shape === "array" || (shape === "mixed" && i % 2 === 0);
      v = asArray ? [v] : { a: v };
    }
    return v;
  });

/** Any JSON value, hostile in every leaf and key, sometimes very deep. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie("value"), { maxKeys: 4 }),
    deepNest,
  ),
})).value;

/** Either a thing of the right type (from `right`) or any hostile value. */
export function orHostile<T>(right: fc.Arbitrary<T>, weight = 3): fc.Arbitrary<unknown> {
  return fc.oneof({ weight, arbitrary: right }, { weight: 1, arbitrary: hostileJson });
}

/** A message of a run input: valid roles mostly, hostile content, ids and extra keys. */
export const hostileMessage: fc.Arbitrary<unknown> = orHostile(
  fc.record(
    {
      id: orHostile(fc.uuid()),
      role: orHostile(fc.constantFrom("user", "assistant", "system", "tool", "developer", "reasoning")),
      content: orHostile(hostileString),
      toolCallId: orHostile(fc.string({ maxLength: 10 })),
      extra: hostileJson,
    },
    { requiredKeys: ["role"] },
  ),
);

/**
 * A run input: {"messages": [...], state?, context?, tools?, resume?} with hostile parts, or anything.
 * (A "resume" that is not an array was answered 500 until 000011: found here.)
 */
export function runInput(): fc.Arbitrary<unknown> {
  return orHostile(
    fc.record(
      {
        messages: orHostile(fc.array(hostileMessage, { maxLength: 4 }), 6),
        state: hostileJson,
        context: orHostile(fc.array(hostileJson, { maxLength: 3 })),
        tools: orHostile(fc.array(hostileJson, { maxLength: 3 })),
        resume: hostileJson,
      },
      { requiredKeys: ["messages"] },
    ),
    4,
  );
}

/** A hostile run input. */
export const hostileRunInput: fc.Arbitrary<unknown> = runInput();

/** A plain input whose one message's content is hostile (the run should start). */
export const validishRunInput: fc.Arbitrary<unknown> = fc.oneof(hostileString, storableString).map((content) => ({ messages: [{ role: "user", content }] }));

const BUILTIN_TOOLS = ["echo", "simulate_work", "sleep", "wait_for_event"];

const hostileTool: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...BUILTIN_TOOLS),
  hostileString,
  fc.record(
    {
      name: orHostile(fc.constantFrom(...BUILTIN_TOOLS, "notify")),
      type: orHostile(fc.constantFrom("builtin", "http")),
      url: orHostile(fc.constantFrom("http://127.0.0.1:9/x", "https://example.invalid/", "file:///etc/passwd", "javascript:alert(1)")),
      requires_approval: orHostile(fc.boolean()),
      timeout_ms: numberish,
      max_response_bytes: numberish,
      headers: orHostile(fc.dictionary(hostileKey, orHostile(hostileString), { maxKeys: 3 })),
      parameters: hostileJson,
    },
    { requiredKeys: ["name"] },
  ),
  hostileJson,
);

const hostileTurn: fc.Arbitrary<unknown> = orHostile(
  fc.record(
    {
      text: orHostile(hostileString),
      reasoning: orHostile(hostileString),
      tool_calls: orHostile(fc.array(orHostile(fc.record({ name: orHostile(fc.constantFrom(...BUILTIN_TOOLS)), arguments: hostileJson })), { maxLength: 3 })),
      delay_ms: numberish,
      error: orHostile(fc.constantFrom("rate_limit", "server_error", "timeout", "bad_request")),
      times: numberish,
    },
    { requiredKeys: [] },
  ),
);

/** An agent config: the scripted provider's structure, every value hostile (or the whole thing). */
export const hostileAgentConfig: fc.Arbitrary<unknown> = orHostile(
  fc.record(
    {
      provider: orHostile(fc.constantFrom("scripted", "openai", "anthropic"), 6),
      model: orHostile(hostileString),
      system_prompt: orHostile(hostileString),
      tools: orHostile(fc.array(hostileTool, { maxLength: 4 })),
      max_steps: numberish,
      llm_timeout_ms: numberish,
      temperature: numberish,
      max_tokens: numberish,
      retry: orHostile(
        fc.record({ max_attempts: numberish, initial_delay_ms: numberish, max_delay_ms: numberish, multiplier: numberish }, { requiredKeys: [] }),
      ),
      prices: orHostile(fc.record({ input_per_million: numberish, output_per_million: numberish })),
      script: orHostile(fc.array(hostileTurn, { maxLength: 4 })),
      x_extra: hostileJson,
    },
    { requiredKeys: ["provider"] },
  ),
  4,
);

/**
 * An agent config the worker runs to the end within seconds: the scripted provider with hostile
 * texts, tool calls with hostile arguments, and settings hostile or right, but no delay that
 * would keep a run legitimately busy past the settle time (delays ≤ 200 ms, retries ≤ 3 × 50 ms,
 * simulate_work ≤ 100 ms or refused). An invalid setting fails the run (invalid_agent_config).
 */
export const workerAgentConfig: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    system_prompt: fc.option(storableString, { nil: undefined }),
    tools: fc.subarray([...BUILTIN_TOOLS, "nope", "echo"]),
    max_steps: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(0, -1, 1e308, 2 ** 53 + 1, 0.5, "5")),
    llm_timeout_ms: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 5_000 }), fc.constantFrom(0, -0, "1", 2 ** 31)),
    retry: fc.oneof(
      fc.constant(undefined),
      fc.record({
        max_attempts: fc.integer({ min: 1, max: 3 }),
        initial_delay_ms: fc.integer({ min: 0, max: 50 }),
        max_delay_ms: fc.integer({ min: 0, max: 50 }),
      }),
      fc.constant({ max_attempts: -1 }),
    ),
    script: fc.array(
      fc.record(
        {
          text: fc.oneof({ weight: 4, arbitrary: storableString }, { weight: 1, arbitrary: hostileString }),
          reasoning: storableString,
          tool_calls: fc.array(
            fc.oneof(
              fc.record({ name: fc.constant("echo"), arguments: fc.dictionary(hostileKey, hostileJson, { maxKeys: 3 }) }),
              fc.record({ name: fc.constant("sleep"), arguments: fc.record({ seconds: fc.oneof(numberish, fc.constantFrom(0.001, 0.05)) }) }),
              fc.record({
                name: fc.constant("wait_for_event"),
                arguments: fc.record({ name: orHostile(fc.constantFrom("go", "x")), timeout_seconds: numberish }),
              }),
              fc.record({
                name: fc.constant("simulate_work"),
                arguments: fc.record({ ms: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constantFrom(-1, 3_600_001, "10", null, 1e308)) }),
              }),
              fc.record({ name: hostileString, arguments: hostileJson }),
            ),
            { maxLength: 2 },
          ),
          delay_ms: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(-1, 600_001, 0.5, "9")),
          error: fc.constantFrom("rate_limit", "server_error", "timeout", "bad_request"),
          times: fc.integer({ min: 1, max: 3 }),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 4 },
    ),
  })
  .map((c) => {
    const config: Record<string, unknown> = { provider: "scripted", model: "fuzz" };
    for (const [k, v] of Object.entries(c)) if (v !== undefined) config[k] = v;
    return config;
  });

/** An AG-UI RunAgentInput with hostile parts. */
export const hostileAgUiInput: fc.Arbitrary<unknown> = orHostile(
  fc.record(
    {
      threadId: orHostile(fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 30 }))),
      runId: orHostile(fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 30 }))),
      messages: orHostile(fc.array(hostileMessage, { minLength: 1, maxLength: 3 })),
      state: hostileJson,
      tools: orHostile(fc.array(hostileJson, { maxLength: 2 })),
      context: orHostile(fc.array(fc.record({ description: orHostile(hostileString), value: orHostile(hostileString) }), { maxLength: 2 })),
      forwardedProps: hostileJson,
      resume: orHostile(fc.array(hostileJson, { maxLength: 2 })),
    },
    { requiredKeys: ["threadId", "runId", "messages"] },
  ),
  5,
);

/** A resume: an AG-UI resume array answering interrupts (ids from `interruptIds` or hostile), or anything. */
export function hostileResume(interruptIds: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  return orHostile(
    fc.array(
      orHostile(
        fc.record(
          { interruptId: orHostile(interruptIds), status: orHostile(fc.constantFrom("resolved", "cancelled")), payload: hostileJson },
          { requiredKeys: ["interruptId", "status"] },
        ),
      ),
      { maxLength: 3 },
    ),
    4,
  );
}

/**
 * Request body text that JSON.stringify never writes: syntax errors, 1e999 (Infinity once
 * parsed), duplicate and __proto__ keys, nesting deeper than the limit, \u0000 escapes, or
 * stringified hostile JSON with a field spliced in.
 */
export const hostileBodyText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "",
    "{",
    "nul",
    "[]",
    "null",
    "0",
    '"x"',
    '{"agent":"fuzz-echo","input":{"messages":[{"role":"user","content":"hi"}]},"input":1e999}',
    '{"agent":"fuzz-echo","input":{"messages":[{"role":"user","content":1e999}]}}',
    '{"agent":"fuzz-echo","input":{"messages":[{"role":"user","content":-0}]}}',
    '{"agent":"fuzz-echo","input":{"messages":[{"role":"user","content":"\\u0000"}]}}',
    '{"agent":"fuzz-echo","input":{"messages":[{"role":"user","content":"\\ud800"}]}}',
    '{"agent":"fuzz-echo","input":{"__proto__":{"messages":[]},"messages":[{"role":"user","content":"x"}]}}',
    '{"__proto__":{"agent":"fuzz-echo"},"input":{}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '{"name":"go","payload":1e999}',
    '{"resume":[{"interruptId":"\\u0000","status":"resolved"}]}',
    "\ufeff{}",
    '{"a":1}garbage',
  ),
  fc.integer({ min: 60, max: MAX_NEST }).map((n) => `{"agent":"fuzz-echo","input":{"messages":[{"role":"user","content":${"[".repeat(n)}${"]".repeat(n)}}]}}`),
  fc.integer({ min: 60, max: 5_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
  fc.string({ unit: anyCodeUnit, maxLength: 60 }),
  hostileJson.map((v) => JSON.stringify(v) ?? "null"),
);

/** GraphQL documents a client should not send: deep selections, alias floods, garbage. */
export const hostileGraphqlDocument: fc.Arbitrary<string> = fc.oneof(
  fc
    .integer({ min: 10, max: MAX_NEST })
    .map((n) => `query { ${"runs { nodes { thread { runs { nodes { ".repeat(Math.ceil(n / 4))}id${" } } } }".repeat(Math.ceil(n / 4))} }`),
  fc.integer({ min: 20, max: 500 }).map((n) => `query { ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(" ")} }`),
  fc
    .integer({ min: 20, max: 200 })
    .map(
      (n) =>
        `mutation { ${Array.from({ length: n }, (_, i) => `m${i}: cancelRun(runId: "00000000-0000-0000-0000-000000000000") { clientMutationId }`).join(" ")} }`,
    ),
  fc.integer({ min: 1001, max: 2 ** 31 }).map((n) => `query { runs(first: ${n}) { nodes { id } } }`),
  fc.constantFrom(
    "",
    "{",
    "query { __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }",
    "subscription { x }",
    "query { runs(first: -1) { nodes { id } } }",
    "query { runs(first: 1e308) { nodes { id } } }",
    'query { run(id: "\\u0000") { id } }',
    "query Q($a: JSON) { __typename }",
    "fragment F on Query { ...F } query { ...F }",
  ),
  hostileString,
);
