// The official MCP conformance suite (@modelcontextprotocol/conformance, `conformance server`)
// against our /mcp (api/mcp.ts): a real API over a real Postgres, reached through a tiny local
// reverse proxy that adds the API key (the suite sends no headers of its own) and passes Host
// and Origin through untouched, so the suite's DNS-rebinding scenario meets the API's own request
// guard (the API lists 127.0.0.1 in its allowed hosts, as a deployment behind a proxy would).
//
// The suite's results (one checks.json per scenario) are judged here: every scenario that tests
// what our server claims (initialize, ping, tools/list, logging/setLevel, resources/list,
// DNS-rebinding protection) must pass, check by check; every other scenario exercises fixture
// tools, resources or prompts of the suite's reference server (test_simple_text, test://…,
// test_prompt…) that Everruns does not have, and is listed below with why and with what the
// suite makes of it (fails, passes without testing anything of ours, or is pending in the
// suite). Any change of those outcomes, or a scenario the suite adds, fails the test, so that
// the lists stay true and nothing is claimed because it passed trivially.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { createTestKey, quietLog } from "./helpers.ts";

const CONFORMANCE = fileURLToPath(new URL("../../node_modules/@modelcontextprotocol/conformance/dist/index.js", import.meta.url));

/** Scenarios of features Everruns' MCP server claims: each must pass every check. */
const MUST_PASS = ["server-initialize", "ping", "tools-list", "logging-set-level", "resources-list", "dns-rebinding-protection"];

type Outcome = "fails" | "passes trivially" | "not run";

/**
 * Scenarios we do not claim, each with why and what the suite makes of our server. Most need a
 * fixture of the suite's reference server and fail. A few pass without testing anything of ours
 * (the SDK answers an unknown tool with an isError result, which is what those scenarios look
 * for; a WARNING is not a failure): they are not claimed either. Two are pending in the suite.
 */
const NOT_CLAIMED: Record<string, { why: string; outcome: Outcome }> = {
  "completion-complete": { why: "no completion capability (no prompts, no argument completion)", outcome: "fails" },
  "tools-call-simple-text": {
    why: "fixture tool test_simple_text; passes on the SDK's 'Tool test_simple_text not found' isError text",
    outcome: "passes trivially",
  },
  "tools-call-error": {
    why: "fixture tool test_error_handling; passes on the SDK's 'not found' isError (ours: mcp-server.test.ts)",
    outcome: "passes trivially",
  },
  "tools-call-image": { why: "fixture tool test_image_content: no tool of ours returns images", outcome: "fails" },
  "tools-call-audio": { why: "fixture tool test_audio_content: no tool of ours returns audio", outcome: "fails" },
  "tools-call-embedded-resource": { why: "fixture tool test_embedded_resource", outcome: "fails" },
  "tools-call-mixed-content": { why: "fixture tool test_multiple_content_types", outcome: "fails" },
  "tools-call-with-logging": { why: "fixture tool test_tool_with_logging (wait_run's log message: mcp-server.test.ts)", outcome: "fails" },
  "tools-call-with-progress": { why: "fixture tool test_tool_with_progress (wait_run's progress: mcp-server.test.ts)", outcome: "fails" },
  "tools-call-sampling": { why: "fixture tool test_sampling: our server asks clients for nothing (no sampling)", outcome: "fails" },
  "tools-call-elicitation": { why: "fixture tool test_elicitation: no elicitation", outcome: "fails" },
  "elicitation-sep1034-defaults": { why: "fixture tool test_elicitation_sep1034_defaults: no elicitation", outcome: "fails" },
  "elicitation-sep1330-enums": { why: "fixture tool test_elicitation_sep1330_enums: no elicitation", outcome: "fails" },
  "server-sse-multiple-streams": { why: "needs a session for several GET streams: stateless, GET is 405; the suite only warns", outcome: "passes trivially" },
  "json-schema-2020-12": { why: "fixture tool json_schema_2020_12_tool; pending in the suite (not in its active set)", outcome: "not run" },
  "server-sse-polling": { why: "fixture tool test_reconnection, and an event store to resume from; pending in the suite", outcome: "not run" },
  "resources-read-text": { why: "fixture resource test://static-text: our resources are run transcripts", outcome: "fails" },
  "resources-read-binary": { why: "fixture resource test://static-binary", outcome: "fails" },
  "resources-templates-read": {
    why: "fixture template test://template/{id}/data (ours, everruns://runs/{run_id}/transcript: mcp-server.test.ts)",
    outcome: "fails",
  },
  "resources-subscribe": { why: "no resource subscriptions (stateless: nothing to notify later)", outcome: "fails" },
  "resources-unsubscribe": { why: "no resource subscriptions", outcome: "fails" },
  "prompts-list": { why: "no prompts capability", outcome: "fails" },
  "prompts-get-simple": { why: "no prompts capability", outcome: "fails" },
  "prompts-get-with-args": { why: "no prompts capability", outcome: "fails" },
  "prompts-get-embedded-resource": { why: "no prompts capability", outcome: "fails" },
  "prompts-get-with-image": { why: "no prompts capability", outcome: "fails" },
};

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
}

let db: TestDatabase;
let api: ApiHandle;
let proxy: Server;
let outDir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // allowedHosts: the proxy's name at any port, as a deployment lists its proxy's
  api = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false, allowedHosts: ["127.0.0.1"] });
  const key = await createTestKey(db.url, { role: "operator", name: "conformance" });
  proxy = createServer((req, res) => {
    const upstream = request(
      { host: "127.0.0.1", port: api.port, method: req.method, path: req.url, headers: { ...req.headers, authorization: `Bearer ${key}` } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  outDir = await mkdtemp(join(tmpdir(), "everruns-mcp-conformance-"));
});

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await api?.close();
  await db?.drop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

/** Runs the suite (its default, active scenarios); resolves with its exit code and output. */
function runSuite(url: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CONFORMANCE, "server", "--url", url, "-o", outDir], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Each scenario's checks, from `<outDir>/…/<scenario>…/checks.json`. */
async function readResults(dir: string): Promise<Map<string, Check[]>> {
  const results = new Map<string, Check[]>();
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name === "checks.json") results.set(full, JSON.parse(await readFile(full, "utf8")) as Check[]);
    }
  };
  await walk(dir);
  return results;
}

it("the official conformance suite: every scenario of what we claim passes; the others are listed with why", { timeout: 120_000 }, async () => {
  const { port } = proxy.address() as AddressInfo;
  const { output } = await runSuite(`http://127.0.0.1:${port}/mcp`);
  const files = await readResults(outDir);
  expect(files.size, output).toBeGreaterThan(0);
  // the scenario a checks.json belongs to: the longest scenario name its path contains
  const scenarios = [...MUST_PASS, ...Object.keys(NOT_CLAIMED)];
  const byScenario = new Map<string, Check[]>();
  for (const [path, checks] of files) {
    const scenario = scenarios.filter((s) => path.includes(s)).sort((a, b) => b.length - a.length)[0];
    expect(scenario, `a result the test does not know: ${path}; list its scenario in MUST_PASS or NOT_CLAIMED`).toBeDefined();
    byScenario.set(scenario!, [...(byScenario.get(scenario!) ?? []), ...checks]);
  }
  const failed = (checks: Check[]) => checks.filter((c) => c.status === "FAILURE");
  const summary: Record<string, string> = {};
  for (const scenario of MUST_PASS) {
    const checks = byScenario.get(scenario) ?? [];
    const passed = checks.filter((c) => c.status === "SUCCESS");
    summary[scenario] =
      passed.length > 0 && failed(checks).length === 0 ? "pass" : `FAIL ${JSON.stringify(failed(checks).map((c) => `${c.id}: ${c.errorMessage ?? ""}`))}`;
  }
  const outcomes: Record<string, Outcome> = {};
  for (const scenario of Object.keys(NOT_CLAIMED)) {
    const checks = byScenario.get(scenario);
    outcomes[scenario] = !checks ? "not run" : failed(checks).length > 0 ? "fails" : "passes trivially";
    summary[scenario] = `${outcomes[scenario]} (not claimed: ${NOT_CLAIMED[scenario]!.why})`;
  }
  console.log(
    `MCP conformance suite (${CONFORMANCE}):\n${Object.entries(summary)
      .map(([s, r]) => `  ${s}: ${r}`)
      .join("\n")}`,
  );
  expect(Object.fromEntries(MUST_PASS.map((s) => [s, summary[s]])), output.slice(-4000)).toEqual(Object.fromEntries(MUST_PASS.map((s) => [s, "pass"])));
  // a scenario that starts passing for real (or failing) is a change to look at: the lists must stay true
  expect(outcomes).toEqual(Object.fromEntries(Object.entries(NOT_CLAIMED).map(([s, { outcome }]) => [s, outcome])));
  // dns-rebinding-protection really reached our guard: a foreign Host got 4xx, our own name 2xx
  const rebinding = byScenario.get("dns-rebinding-protection")!;
  expect(rebinding.map((c) => c.id).sort()).toEqual(["localhost-host-rebinding-rejected", "localhost-host-valid-accepted"]);
});
