// Two Amazon States Language definitions from the AWS Step Functions documentation (issue 21,
// "an ASL definition taken from the Step Functions documentation's examples ... validates and runs
// unchanged, with its Task resources mapped"). The definitions below are the docs' text (JSONPath
// flavour); only their Lambda ARNs are rewritten, by mapResources on the parsed JSON, to Everruns
// capabilities: the Choice example's functions to http tools on a loopback server, the Parallel
// example's to scripted agents. Each validates as the API validates an agent's config, runs to the
// outcome the docs describe, and, unmapped, is refused with an error naming the state and Resource.
import { execFile } from "node:child_process";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { configWriteSchemaFor, describeIssues } from "../../db/schemas.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";

// https://docs.aws.amazon.com/step-functions/latest/dg/concepts-amazon-states-language.html
// ("Example Amazon States Language Specification", the JSONPath version; also at
// https://docs.aws.amazon.com/step-functions/latest/dg/concepts-awl.html)
const CHOICE_EXAMPLE = `{
  "Comment": "An example of the Amazon States Language using a choice state.",
  "StartAt": "FirstState",
  "States": {
    "FirstState": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:FUNCTION_NAME",
      "Next": "ChoiceState"
    },
    "ChoiceState": {
      "Type" : "Choice",
      "Choices": [
        {
          "Variable": "$.foo",
          "NumericEquals": 1,
          "Next": "FirstMatchState"
        },
        {
          "Variable": "$.foo",
          "NumericEquals": 2,
          "Next": "SecondMatchState"
        }
      ],
      "Default": "DefaultState"
    },

    "FirstMatchState": {
      "Type" : "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:OnFirstMatch",
      "Next": "NextState"
    },

    "SecondMatchState": {
      "Type" : "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:OnSecondMatch",
      "Next": "NextState"
    },

    "DefaultState": {
      "Type": "Fail",
      "Error": "DefaultStateError",
      "Cause": "No Matches!"
    },

    "NextState": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:FUNCTION_NAME",
      "End": true
    }
  }
}`;

// https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html ("Parallel State Example")
const PARALLEL_EXAMPLE = `{
  "Comment": "Parallel Example.",
  "StartAt": "LookupCustomerInfo",
  "States": {
    "LookupCustomerInfo": {
      "Type": "Parallel",
      "End": true,
      "Branches": [
        {
         "StartAt": "LookupAddress",
         "States": {
           "LookupAddress": {
             "Type": "Task",
             "Resource":
               "arn:aws:lambda:us-east-1:123456789012:function:AddressFinder",
             "End": true
           }
         }
       },
       {
         "StartAt": "LookupPhone",
         "States": {
           "LookupPhone": {
             "Type": "Task",
             "Resource":
               "arn:aws:lambda:us-east-1:123456789012:function:PhoneFinder",
             "End": true
           }
         }
       }
      ]
    }
  }
}`;

const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[^:]+:[^:]+:function:([A-Za-z0-9_-]+)$/u;

/**
 * The definition with every Lambda Task's Resource replaced by `to(function name)`, and the
 * function names met; nothing else changes.
 */
function mapResources(definition: unknown, to: (fn: string) => string): { definition: unknown; functions: string[] } {
  const functions = new Set<string>();
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node !== "object" || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = walk(value);
    const m = out.Type === "Task" && typeof out.Resource === "string" ? LAMBDA_ARN.exec(out.Resource) : null;
    if (m) {
      functions.add(m[1]!);
      out.Resource = to(m[1]!);
    }
    return out;
  };
  return { definition: walk(definition), functions: [...functions] };
}

/** The message the API would answer a write of this workflow config with, or null when it is accepted. */
function writeProblem(config: Record<string, unknown>): string | null {
  const result = configWriteSchemaFor(config).safeParse(config);
  return result.success ? null : describeIssues(result.error);
}

let db: TestDatabase;
let worker: WorkerHandle;
let server: http.Server;
let baseUrl: string;
const requests: Array<{ path: string; body: unknown; key: string | undefined }> = [];

beforeAll(async () => {
  // the "Lambdas" of the Choice example: FUNCTION_NAME passes its input on, the match handlers say which matched
  server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (d: Buffer) => (text += d.toString("utf8")));
    req.on("end", () => {
      const body = JSON.parse(text || "null") as Record<string, unknown>;
      const path = req.url ?? "/";
      requests.push({ path, body, key: req.headers["idempotency-key"] as string | undefined });
      const answers: Record<string, unknown> = {
        "/FUNCTION_NAME": body,
        "/OnFirstMatch": { ...body, matched: "first" },
        "/OnSecondMatch": { ...body, matched: "second" },
      };
      if (!(path in answers)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answers[path]));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 5000, log: consoleLogger("[asl-worker]", "warn") });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
  server?.close();
});

async function start(agentId: string, state: Record<string, unknown>): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [], state }),
  ]);
  return rows[0]!.id;
}

async function visited(runId: string): Promise<string[]> {
  return (await getSteps(db.pool, runId)).filter((s) => s.kind === "state").map((s) => s.name);
}

describe("the Step Functions docs' Choice example", () => {
  const parsed = JSON.parse(CHOICE_EXAMPLE) as Record<string, unknown>;

  it("is refused unmapped, with an error naming the state and its Resource", () => {
    const problem = writeProblem({ kind: "workflow", definition: parsed });
    expect(problem).toMatch(
      /definition\.States\.FirstState\.Resource: Resource "arn:aws:lambda:us-east-1:123456789012:function:FUNCTION_NAME" is not an Everruns capability/,
    );
    expect(problem).toMatch(/States\.FirstMatchState\.Resource/);
  });

  it("with its Lambdas mapped to http tools, validates and runs each documented path: first match, second match, no match", async () => {
    const { definition, functions } = mapResources(parsed, (fn) => `everruns:http:${fn}`);
    expect(functions.sort()).toEqual(["FUNCTION_NAME", "OnFirstMatch", "OnSecondMatch"]);
    const config = { kind: "workflow", definition, tools: functions.map((fn) => ({ name: fn, type: "http", url: `${baseUrl}/${fn}` })) };
    expect(writeProblem(config)).toBeNull();
    const agent = await createAgent(db.pool, config, "aws_choice_example");

    const first = await start(agent, { foo: 1 });
    const second = await start(agent, { foo: 2 });
    const none = await start(agent, { foo: 3 });
    const [a, b, c] = await Promise.all([first, second, none].map((id) => waitForStatus(db.pool, id, ["succeeded", "failed"], 30_000)));

    expect(a!.status).toBe("succeeded");
    expect((a!.output as unknown as { json: unknown }).json).toEqual({ foo: 1, matched: "first" });
    expect(await visited(first)).toEqual(["FirstState", "ChoiceState", "FirstMatchState", "NextState"]);

    expect(b!.status).toBe("succeeded");
    expect((b!.output as unknown as { json: unknown }).json).toEqual({ foo: 2, matched: "second" });
    expect(await visited(second)).toEqual(["FirstState", "ChoiceState", "SecondMatchState", "NextState"]);

    // the Default: a Fail state, its Error and Cause the run's error
    expect(c!.status).toBe("failed");
    expect(c!.error).toMatchObject({ code: "DefaultStateError", message: "No Matches!" });
    expect(await visited(none)).toEqual(["FirstState", "ChoiceState", "DefaultState"]);

    // each Task called its function once, with the state's input and an idempotency key of the run
    const calls = (runId: string) => requests.filter((r) => r.key?.startsWith(`${runId}:`)).map((r) => r.path);
    expect(calls(first)).toEqual(["/FUNCTION_NAME", "/OnFirstMatch", "/FUNCTION_NAME"]);
    expect(calls(second)).toEqual(["/FUNCTION_NAME", "/OnSecondMatch", "/FUNCTION_NAME"]);
    expect(calls(none)).toEqual(["/FUNCTION_NAME"]);
    for (const id of [first, second, none]) await assertValidAgUiLog(await getEvents(db.pool, id));
  });
});

describe("the Step Functions docs' Parallel example", () => {
  const parsed = JSON.parse(PARALLEL_EXAMPLE) as Record<string, unknown>;

  it("is refused unmapped, with an error naming the state in its branch and its Resource", () => {
    const problem = writeProblem({ kind: "workflow", definition: parsed });
    expect(problem).toMatch(/LookupAddress\.Resource: Resource "arn:aws:lambda:us-east-1:123456789012:function:AddressFinder" is not an Everruns capability/);
    expect(problem).toMatch(/LookupPhone\.Resource/);
  });

  it("with its Lambdas mapped to agents, validates and runs both branches: the output is the branches' results in order", async () => {
    const answers: Record<string, string> = { AddressFinder: "1 Main Street, Springfield", PhoneFinder: "+1 555 0100" };
    const { definition, functions } = mapResources(parsed, (fn) => `everruns:agent:${fn}`);
    expect(functions).toEqual(["AddressFinder", "PhoneFinder"]);
    for (const fn of functions) await createAgent(db.pool, { provider: "scripted", script: [{ text: answers[fn] }] }, fn);
    const config = { kind: "workflow", definition };
    expect(writeProblem(config)).toBeNull();
    const agent = await createAgent(db.pool, config, "aws_parallel_example");

    const run = await start(agent, { customer: "C-42" });
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 30_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    expect((done.output as unknown as { json: unknown }).json).toEqual([answers.AddressFinder, answers.PhoneFinder]);
    expect(await visited(run)).toEqual(["LookupCustomerInfo"]);

    // two branch runs of the workflow, each with one agent run given the branch's input
    const { rows: branches } = await db.pool.query<{ id: string; call: string }>(
      "select id, caller_tool_call_id as call from everruns.runs where caller_run_id = $1 order by caller_tool_call_id",
      [run],
    );
    expect(branches).toHaveLength(2);
    const { rows: lookups } = await db.pool.query<{ name: string; input: { messages: Array<{ content: string }> } }>(
      "select a.name, r.input from everruns.runs r join everruns.agents a on a.id = r.agent_id where r.caller_run_id = any($1) order by a.name",
      [branches.map((b) => b.id)],
    );
    expect(lookups.map((l) => l.name)).toEqual(["AddressFinder", "PhoneFinder"]);
    for (const l of lookups) expect(JSON.parse(l.input.messages[0]!.content)).toEqual({ customer: "C-42" });
    await assertValidAgUiLog(await getEvents(db.pool, run));
  });
});

// The worker runs under plain node (`everruns worker`, spawned worker processes), which loads a
// CommonJS package's named exports only where it can detect them; vitest's loader is more lenient.
it("the workflow engine loads under plain node, as a worker process runs it", async () => {
  const engine = fileURLToPath(new URL("../workflow/engine.ts", import.meta.url));
  const load = `import(${JSON.stringify(engine)}).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })`;
  const result = await promisify(execFile)(process.execPath, ["-e", load]).then(
    () => "loaded",
    (error: Error & { stderr?: string }) => (error.stderr ?? error.message).trim(),
  );
  expect(result).toBe("loaded");
});
