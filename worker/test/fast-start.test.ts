// Fast start: a worker imports no provider SDK and no JSON-schema validator until an agent
// needs one (worker/providers/registry.ts, worker/tools/validate.ts), and the registries are
// the one place providers and tools are listed.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AgentConfigSchema } from "../../db/schemas.ts";
import { catalogPrice } from "../../lib/models/catalog.ts";
import { PROVIDER_SPECS, lazyProvider } from "../providers/registry.ts";
import type { LlmStreamHandlers, Provider } from "../providers/types.ts";
import { BUILTIN_TOOL_NAMES, builtinTools } from "../tools/registry.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The packages under node_modules a fresh process loads when it imports `modules`. */
function packagesLoadedBy(modules: string[]): string[] {
  const script = `
    import { registerHooks } from "node:module";
    const seen = new Set();
    registerHooks({ resolve(spec, ctx, next) {
      const r = next(spec, ctx);
      const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url);
      if (m) seen.add(m[1]);
      return r;
    } });
    for (const m of ${JSON.stringify(modules)}) await import(new URL(m, ${JSON.stringify(`file://${root}`)}).href);
    console.log(JSON.stringify([...seen]));
  `;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8", timeout: 60_000 });
  if (out.status !== 0) throw new Error(`the probe failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split("\n").pop()!) as string[];
}

const handlers: LlmStreamHandlers = { onTextDelta() {}, onReasoningDelta() {}, onToolCallStart() {}, onToolCallArgs() {} };

describe("fast start", () => {
  it("importing the worker, the schemas and the env loads no provider SDK, no ajv and no undici", () => {
    const loaded = packagesLoadedBy(["worker/main.ts", "db/schemas.ts", "db/env.ts"]);
    expect(loaded).toContain("graphile-worker"); // the probe works
    for (const heavy of ["openai", "@anthropic-ai/sdk", "ajv", "undici"]) expect(loaded).not.toContain(heavy);
  });

  it("a lazy provider loads its implementation once, on its first call, and again after a failed load", async () => {
    let loads = 0;
    const impl: Provider = { complete: () => Promise.resolve({ text: "hi", tool_calls: [], usage: { input_tokens: 1, output_tokens: 1 }, model: "m" }) };
    const provider = lazyProvider({
      load: () => {
        loads++;
        if (loads === 1) return Promise.reject(new Error("first load fails"));
        return Promise.resolve(impl);
      },
    });
    expect(loads).toBe(0);
    const request = {
      config: AgentConfigSchema.parse({ provider: "scripted" }),
      messages: [],
      tools: [],
      callIndex: 0,
      attempt: 1,
      signal: new AbortController().signal,
    };
    await expect(provider.complete(request, handlers)).rejects.toThrow("first load fails");
    await expect(provider.complete(request, handlers)).resolves.toMatchObject({ text: "hi" });
    await provider.complete(request, handlers);
    expect(loads).toBe(2);
  });
});

describe("registries", () => {
  it("the agent config accepts exactly the registered providers and built-in tools", () => {
    for (const spec of PROVIDER_SPECS) {
      const config = { provider: spec.name, ...(spec.name === "scripted" ? {} : { model: "m" }), tools: [...BUILTIN_TOOL_NAMES] };
      expect(AgentConfigSchema.safeParse(config).success, spec.name).toBe(true);
    }
    expect(AgentConfigSchema.safeParse({ provider: "nope" }).success).toBe(false);
    expect(Object.keys(builtinTools()).sort()).toEqual([...BUILTIN_TOOL_NAMES].sort());
    expect(BUILTIN_TOOL_NAMES).toEqual(expect.arrayContaining(["echo", "simulate_work", "sleep", "wait_for_event"]));
  });

  it("prices come from the models table (lib/models/models.json), by longest model prefix", () => {
    expect(catalogPrice("openai", "gpt-4o-mini-2024-07-18")).toEqual({ input: 0.15, output: 0.6, cache_read: 0.075 });
    expect(catalogPrice("anthropic", "claude-opus-4-5-20251101")).toEqual({ input: 5, output: 25, cache_read: 0.5, cache_write: 6.25 });
    // a newer model has its own entry, not its family's (claude-opus-4 is $15/$75); GPT-5.6 and later bill cache writes
    expect(catalogPrice("anthropic", "claude-opus-4-6")).toEqual({ input: 5, output: 25, cache_read: 0.5, cache_write: 6.25 });
    expect(catalogPrice("openai", "gpt-6-sol")).toEqual({ input: 2, output: 10, cache_read: 0.2, cache_write: 2.5 });
    expect(catalogPrice("scripted", "anything")).toEqual({ input: 0.5, output: 1.5, cache_read: 0.05, cache_write: 0.625 });
    expect(catalogPrice("openai", "unknown-model")).toBeUndefined();
  });
});
