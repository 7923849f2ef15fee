// The workflow definition language (ASL subset): validation with errors that name the state and
// field, input/output processing, intrinsic functions, Choice rules, Retry/Catch and Wait timing.
// Pure functions: no database, no worker.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  scopeMachine,
  stateAt,
  WorkflowConfigSchema,
  WorkflowDefinitionSchema,
  workflowEdges,
  workflowStates,
  type ChoiceState,
  type MapState,
  type Retrier,
  type WaitState,
  type WorkflowDefinition,
  type WorkflowState,
} from "../../db/workflow-definition.ts";
import { nextOfChoice } from "../workflow/choice.ts";
import {
  applyOutputPath,
  applyParameters,
  applyResultPath,
  effectiveInput,
  failErrorAndCause,
  mapItemInputs,
  passResult,
  readPath,
  selectPath,
  stateOutput,
  WorkflowError,
} from "../workflow/paths.ts";
import { catcherFor, matchingRetrier, retryDelayMs, waitUntil } from "../workflow/retry.ts";

type Issue = { path: string; message: string };

/** The issues of a workflow config made of `definition`, paths joined with dots. */
function issuesOf(definition: unknown): Issue[] {
  const result = WorkflowConfigSchema.safeParse({ kind: "workflow", definition });
  if (result.success) return [];
  return result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

/** Asserts one issue at `path` whose message contains `text`. */
function expectIssue(definition: unknown, path: string, text: string | RegExp): void {
  const issues = issuesOf(definition);
  const hit = issues.find((i) => i.path === path && (typeof text === "string" ? i.message.includes(text) : text.test(i.message)));
  expect(hit, `expected an issue at ${path} matching ${String(text)}; got ${JSON.stringify(issues, null, 1)}`).toBeDefined();
}

function expectValid(definition: unknown): WorkflowDefinition {
  expect(issuesOf(definition)).toEqual([]);
  return WorkflowConfigSchema.parse({ kind: "workflow", definition }).definition;
}

/** One state parsed (shape checks only), for the runtime helpers. */
function parseState<T extends WorkflowState>(state: Record<string, unknown>): T {
  return WorkflowDefinitionSchema.parse({ StartAt: "S", States: { S: state } }).States["S"] as T;
}

function workflowError(fn: () => unknown): WorkflowError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowError);
    return error as WorkflowError;
  }
  throw new Error("expected a WorkflowError, nothing was thrown");
}

const pass = (next?: string) => (next ? { Type: "Pass", Next: next } : { Type: "Pass", End: true });

// A procurement process: an agent drafts the PO, Choice on the amount, one or two approvals, the
// signature as an event with a 3-day timeout, an agent notifies.
const procurement = {
  Comment: "Purchase order approval",
  StartAt: "DraftPO",
  TimeoutSeconds: 2_592_000,
  States: {
    DraftPO: {
      Type: "Task",
      Resource: "everruns:agent:po-drafter",
      Parameters: { "request.$": "$.request", "requested_by.$": "$$.Execution.Input.user" },
      ResultSelector: { "amount.$": "$.amount", "id.$": "$.id" },
      ResultPath: "$.po",
      Retry: [{ ErrorEquals: ["States.TaskFailed"], MaxAttempts: 2, IntervalSeconds: 5, JitterStrategy: "FULL" }],
      Catch: [{ ErrorEquals: ["States.ALL"], Next: "DraftFailed", ResultPath: "$.error" }],
      Next: "CheckAmount",
    },
    CheckAmount: {
      Type: "Choice",
      Choices: [{ Variable: "$.po.amount", NumericGreaterThanEquals: 10000, Next: "DirectorApproval" }],
      Default: "ManagerApproval",
    },
    DirectorApproval: {
      Type: "Task",
      Resource: "everruns:approval",
      Parameters: {
        "message.$": "States.Format('Approve PO {} of {} USD?', $.po.id, $.po.amount)",
        schema: { type: "object", properties: { approved: { type: "boolean" } }, required: ["approved"] },
      },
      ResultPath: "$.director",
      Next: "DirectorApproved?",
    },
    "DirectorApproved?": {
      Type: "Choice",
      Choices: [{ Variable: "$.director.approved", BooleanEquals: true, Next: "ManagerApproval" }],
      Default: "Rejected",
    },
    ManagerApproval: {
      Type: "Task",
      Resource: "everruns:approval",
      Parameters: { message: "Approve this PO?" },
      ResultPath: "$.manager",
      Next: "ManagerApproved?",
    },
    "ManagerApproved?": {
      Type: "Choice",
      Choices: [{ Not: { Variable: "$.manager.approved", BooleanEquals: true }, Next: "Rejected" }],
      Default: "WaitForSignature",
    },
    WaitForSignature: {
      Type: "Task",
      Resource: "everruns:wait_for_event",
      Parameters: { name: "po_signed", "correlation_key.$": "$.po.id" },
      TimeoutSeconds: 259_200,
      ResultPath: "$.signature",
      Catch: [{ ErrorEquals: ["States.Timeout"], Next: "TimedOut" }],
      Next: "Notify",
    },
    Notify: { Type: "Task", Resource: "everruns:agent:notifier", Parameters: { "po.$": "$.po" }, ResultPath: null, End: true },
    Rejected: { Type: "Fail", Error: "PO.Rejected", Cause: "an approver said no" },
    TimedOut: { Type: "Fail", Error: "PO.Unsigned", Cause: "not signed within 3 days" },
    DraftFailed: { Type: "Fail", ErrorPath: "$.error.Error", CausePath: "$.error.Cause" },
  },
};

// The "Choice state" example of the AWS Step Functions documentation, Lambda ARNs mapped to agents.
const awsChoiceExample = {
  StartAt: "ChoiceStateX",
  States: {
    ChoiceStateX: {
      Type: "Choice",
      Choices: [
        { Not: { Variable: "$.type", StringEquals: "Private" }, Next: "Public" },
        { Variable: "$.value", NumericEquals: 0, Next: "ValueIsZero" },
        {
          And: [
            { Variable: "$.value", NumericGreaterThanEquals: 20 },
            { Variable: "$.value", NumericLessThan: 30 },
          ],
          Next: "ValueInTwenties",
        },
      ],
      Default: "DefaultState",
    },
    Public: { Type: "Task", Resource: "everruns:agent:foo", Next: "NextState" },
    ValueIsZero: { Type: "Task", Resource: "everruns:agent:zero", Next: "NextState" },
    ValueInTwenties: { Type: "Task", Resource: "everruns:agent:bar", Next: "NextState" },
    DefaultState: { Type: "Fail", Cause: "No Matches!" },
    NextState: { Type: "Task", Resource: "everruns:agent:foo", End: true },
  },
};

// The Map example of the AWS documentation (inline Map over shipped items) and its Parallel
// example (look up address and phone in parallel), resources mapped.
const awsMapParallelExample = {
  StartAt: "Validate-All",
  States: {
    "Validate-All": {
      Type: "Map",
      InputPath: "$.detail",
      ItemsPath: "$.shipped",
      MaxConcurrency: 0,
      ItemSelector: { "parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner" },
      ItemProcessor: {
        ProcessorConfig: { Mode: "INLINE" },
        StartAt: "Validate",
        States: { Validate: { Type: "Task", Resource: "everruns:agent:ship-val", End: true } },
      },
      ResultPath: "$.detail.shipped",
      Next: "LookupCustomerInfo",
    },
    LookupCustomerInfo: {
      Type: "Parallel",
      Branches: [
        { StartAt: "LookupAddress", States: { LookupAddress: { Type: "Task", Resource: "everruns:http:address_finder", End: true } } },
        { StartAt: "LookupPhone", States: { LookupPhone: { Type: "Task", Resource: "everruns:mcp:crm/phone_lookup", End: true } } },
      ],
      End: true,
    },
  },
};

describe("valid definitions", () => {
  it("accepts the procurement workflow and fills the config defaults", () => {
    expectValid(procurement);
    const config = WorkflowConfigSchema.parse({ kind: "workflow", definition: procurement });
    expect(config.tools).toEqual([]);
    expect(config.max_steps).toBe(10_000);
    expect(config.max_parallel_children).toBe(10);
  });

  it("accepts the AWS documentation's Choice, Map and Parallel examples with resources mapped", () => {
    expectValid(awsChoiceExample);
    expectValid(awsMapParallelExample);
    expectValid({ ...awsChoiceExample, Version: "1.0", QueryLanguage: "JSONPath" });
  });

  it("refuses an AWS resource with a message listing the Everruns forms", () => {
    const def = structuredClone(awsChoiceExample);
    def.States.Public.Resource = "arn:aws:lambda:us-east-1:123456789012:function:Foo";
    expectIssue(def, "definition.States.Public.Resource", /is not an Everruns capability.*everruns:agent:<agent name>.*everruns:mcp:<server>\/<tool>/u);
  });
});

describe("graph checks", () => {
  it("StartAt must name a state", () => {
    expectIssue({ StartAt: "Nope", States: { A: pass() } }, "definition.StartAt", '"Nope" is not a state of this machine (states: A)');
  });

  it("Next, Default, Choices[i].Next and Catch[i].Next must name a state", () => {
    expectIssue({ StartAt: "A", States: { A: pass("B") } }, "definition.States.A.Next", '"B" is not a state');
    const choice = { StartAt: "C", States: { C: { Type: "Choice", Choices: [{ Variable: "$.x", IsPresent: true, Next: "X" }], Default: "Y" }, D: pass() } };
    expectIssue(choice, "definition.States.C.Choices.0.Next", '"X" is not a state');
    expectIssue(choice, "definition.States.C.Default", '"Y" is not a state');
    const task = {
      StartAt: "T",
      States: { T: { Type: "Task", Resource: "everruns:agent:a", Catch: [{ ErrorEquals: ["States.ALL"], Next: "Gone" }], End: true } },
    };
    expectIssue(task, "definition.States.T.Catch.0.Next", '"Gone" is not a state');
  });

  it("targets must be in the same scope", () => {
    const def = {
      StartAt: "P",
      States: {
        P: { Type: "Parallel", Branches: [{ StartAt: "B1", States: { B1: pass("Done") } }], Next: "Done" },
        Done: { Type: "Succeed" },
      },
    };
    expectIssue(def, "definition.States.P.Branches.0.States.B1.Next", '"Done" is not a state of this branch 0 of "P" (states: B1)');
    const map = {
      StartAt: "M",
      States: { M: { Type: "Map", ItemProcessor: { StartAt: "Nope", States: { I: pass() } }, End: true } },
    };
    expectIssue(map, "definition.States.M.ItemProcessor.StartAt", '"Nope" is not a state of this ItemProcessor of "M"');
  });

  it("a state needs exactly one of Next and End; Choice, Succeed and Fail have neither", () => {
    expectIssue({ StartAt: "A", States: { A: { Type: "Pass" } } }, "definition.States.A.Next", 'needs Next (the state after it) or "End": true');
    expectIssue({ StartAt: "A", States: { A: { Type: "Pass", Next: "B", End: true }, B: pass() } }, "definition.States.A.End", "has both Next and End");
    expectIssue({ StartAt: "A", States: { A: { Type: "Pass", End: false } } }, "definition.States.A.End", "End must be true");
    expectIssue(
      { StartAt: "C", States: { C: { Type: "Choice", Choices: [{ Variable: "$.x", IsNull: true, Next: "D" }], Next: "D" }, D: pass() } },
      "definition.States.C.Next",
      "a Choice state has no Next",
    );
    expectIssue({ StartAt: "S", States: { S: { Type: "Succeed", End: true } } }, "definition.States.S.End", "has no End");
    expectIssue({ StartAt: "F", States: { F: { Type: "Fail", Next: "F" } } }, "definition.States.F.Next", "has no Next");
  });

  it("rejects unreachable states, naming them", () => {
    expectIssue({ StartAt: "A", States: { A: pass(), Orphan: pass() } }, "definition.States.Orphan", 'state "Orphan" is unreachable from StartAt "A"');
    // reachable through a Catch only: fine
    expectValid({
      StartAt: "T",
      States: { T: { Type: "Task", Resource: "everruns:agent:a", Catch: [{ ErrorEquals: ["States.ALL"], Next: "Handle" }], End: true }, Handle: pass() },
    });
  });

  it("rejects a cycle with no waiting state, naming its states", () => {
    const spin = {
      StartAt: "A",
      States: {
        A: pass("B"),
        B: { Type: "Choice", Choices: [{ Variable: "$.done", BooleanEquals: true, Next: "End" }], Default: "A" },
        End: { Type: "Succeed" },
      },
    };
    expectIssue(
      spin,
      "definition.States.A",
      "a cycle A → B → A has no Wait state; add a Wait (or an everruns:approval / everruns:wait_for_event Task) so it cannot spin",
    );
    // a self-loop through a Catch
    expectIssue(
      { StartAt: "T", States: { T: { Type: "Task", Resource: "everruns:http:x", Catch: [{ ErrorEquals: ["States.ALL"], Next: "T" }], End: true } } },
      "definition.States.T",
      "a cycle T → T has no Wait state",
    );
    // the same loop with a Wait, an approval, or an event wait in it is fine
    const withWait = structuredClone(spin) as { States: Record<string, unknown> };
    withWait.States["A"] = { Type: "Wait", Seconds: 60, Next: "B" };
    expectValid(withWait);
    const withApproval = structuredClone(spin) as { States: Record<string, unknown> };
    withApproval.States["A"] = { Type: "Task", Resource: "everruns:approval", Next: "B" };
    expectValid(withApproval);
    const withEvent = structuredClone(spin) as { States: Record<string, unknown> };
    withEvent.States["A"] = { Type: "Task", Resource: "everruns:wait_for_event", Parameters: { name: "tick" }, Next: "B" };
    expectValid(withEvent);
    // a second, wait-free cycle next to a waiting one is still caught
    expectIssue(
      {
        StartAt: "A",
        States: {
          A: { Type: "Choice", Choices: [{ Variable: "$.x", IsPresent: true, Next: "W" }], Default: "B" },
          W: { Type: "Wait", Seconds: 1, Next: "A" },
          B: pass("A"),
        },
      },
      "definition.States.A",
      /a cycle (A → B → A|B → A → B) has no Wait state/u,
    );
  });

  it("state names are 1..80 characters and unique across nested scopes", () => {
    const long = "x".repeat(81);
    expectIssue({ StartAt: long, States: { [long]: pass() } }, `definition.States.${long}`, "a state name is 1..80 characters (this one has 81)");
    const dup = {
      StartAt: "P",
      States: {
        P: {
          Type: "Parallel",
          Branches: [
            { StartAt: "Step", States: { Step: pass() } },
            { StartAt: "Step", States: { Step: pass() } },
          ],
          End: true,
        },
      },
    };
    expectIssue(dup, "definition.States.P.Branches.1.States.Step", 'state name "Step" is already used (in branch 0 of "P")');
  });

  it("limits a machine to 500 states and 5 levels of nesting", () => {
    const states: Record<string, unknown> = {};
    for (let i = 0; i < 501; i++) states[`S${i}`] = i === 500 ? pass() : pass(`S${i + 1}`);
    expectIssue({ StartAt: "S0", States: states }, "definition.States", "at most 500 states (this one has 501");
    let inner: Record<string, unknown> = { StartAt: "Leaf", States: { Leaf: pass() } };
    for (let depth = 6; depth >= 1; depth--) inner = { StartAt: `P${depth}`, States: { [`P${depth}`]: { Type: "Parallel", Branches: [inner], End: true } } };
    const issues = issuesOf(inner);
    expect(issues.some((i) => i.path.endsWith("States.P6") && i.message.includes("nest at most 5 deep"))).toBe(true);
  });
});

describe("state shapes", () => {
  const one = (state: Record<string, unknown>) => ({ StartAt: "S", States: { S: state } });

  it("names unknown fields and unsupported features", () => {
    expectIssue(one({ Type: "Pass", Nxt: "B", End: true }), "definition.States.S", '"Nxt" is not a field of a Pass state');
    expectIssue(one({ Type: "Loop", End: true }), "definition.States.S.Type", "Type must be one of Task, Pass, Choice, Wait, Succeed, Fail, Parallel, Map");
    expectIssue(
      one({ Type: "Task", Resource: "everruns:agent:a", HeartbeatSeconds: 30, End: true }),
      "definition.States.S.HeartbeatSeconds",
      "HeartbeatSeconds is not supported",
    );
    expectIssue({ ...one(pass()), QueryLanguage: "JSONata" }, "definition.QueryLanguage", 'QueryLanguage "JSONata" is not supported: use JSONPath');
    const map = { Type: "Map", ItemProcessor: { StartAt: "I", States: { I: pass() } }, End: true };
    expectIssue(
      one({ ...map, ItemReader: { Resource: "arn:aws:states:::s3:getObject" } }),
      "definition.States.S.ItemReader",
      "ItemReader: distributed Map is not supported (inline Map only)",
    );
    expectIssue(
      one({ ...map, ToleratedFailurePercentage: 5 }),
      "definition.States.S.ToleratedFailurePercentage",
      "ToleratedFailurePercentage is not supported",
    );
    expectIssue(
      one({ ...map, ItemProcessor: { ProcessorConfig: { Mode: "DISTRIBUTED" }, StartAt: "I", States: { I: pass() } } }),
      "definition.States.S.ItemProcessor.ProcessorConfig.Mode",
      "distributed Map is not supported",
    );
    expectIssue(
      one({ ...map, Iterator: { StartAt: "J", States: { J: pass() } } }),
      "definition.States.S.ItemProcessor",
      "exactly one of ItemProcessor or (legacy) Iterator",
    );
    expectIssue(one({ ...map, MaxConcurrency: 5000 }), "definition.States.S.MaxConcurrency", "");
  });

  it("checks the Parameters of approvals and event waits", () => {
    expectIssue(
      one({ Type: "Task", Resource: "everruns:wait_for_event", Parameters: { correlation_key: "k" }, End: true }),
      "definition.States.S.Parameters",
      "everruns:wait_for_event needs Parameters.name",
    );
    expectValid(one({ Type: "Task", Resource: "everruns:wait_for_event", Parameters: { "name.$": "$.event" }, End: true }));
    expectIssue(
      one({ Type: "Task", Resource: "everruns:approval", Parameters: { schema: "yes/no" }, End: true }),
      "definition.States.S.Parameters.schema",
      "must be a JSON schema object",
    );
    expectIssue(
      one({ Type: "Task", Resource: "everruns:agent:a", TimeoutSeconds: 5, TimeoutSecondsPath: "$.t", End: true }),
      "definition.States.S.TimeoutSecondsPath",
      "not both",
    );
  });

  it("checks Choice rules", () => {
    const choice = (rule: Record<string, unknown>) => ({ StartAt: "C", States: { C: { Type: "Choice", Choices: [rule], Default: "D" }, D: pass() } });
    expectIssue(
      choice({ Variable: "$.x", StringEquals: "a", NumericEquals: 1, Next: "D" }),
      "definition.States.C.Choices.0",
      "exactly one of And, Or, Not or a comparison operator (has StringEquals, NumericEquals)",
    );
    expectIssue(choice({ StringEquals: "a", Next: "D" }), "definition.States.C.Choices.0.Variable", 'StringEquals compares a Variable: add "Variable"');
    expectIssue(choice({ Variable: "$.x", StringEquals: "a" }), "definition.States.C.Choices.0.Next", "a top-level Choice rule needs Next");
    expectIssue(
      choice({ And: [{ Variable: "$.x", IsNull: true, Next: "D" }], Next: "D" }),
      "definition.States.C.Choices.0.And.0.Next",
      "a nested Choice rule has no Next",
    );
    expectIssue(choice({ Variable: "$.x", StringContains: "a", Next: "D" }), "definition.States.C.Choices.0", '"StringContains" is not a Choice rule field');
    expectIssue(choice({ Or: [], Next: "D" }), "definition.States.C.Choices.0.Or", "Or needs at least one rule");
    expectIssue(choice({ Variable: "$.t", TimestampEquals: "yesterday", Next: "D" }), "definition.States.C.Choices.0.TimestampEquals", "RFC 3339");
    expectIssue({ StartAt: "C", States: { C: { Type: "Choice", Choices: [] } } }, "definition.States.C.Choices", "Choices needs at least one rule");
  });

  it("a Wait has exactly one of Seconds, Timestamp, SecondsPath, TimestampPath", () => {
    expectIssue(one({ Type: "Wait", End: true }), "definition.States.S", "exactly one of Seconds, Timestamp, SecondsPath, TimestampPath (has none)");
    expectIssue(one({ Type: "Wait", Seconds: 1, SecondsPath: "$.s", End: true }), "definition.States.S.SecondsPath", "(has Seconds, SecondsPath)");
    expectIssue(one({ Type: "Wait", Timestamp: "2026-13-45", End: true }), "definition.States.S.Timestamp", "RFC 3339");
    expectValid(one({ Type: "Wait", Timestamp: "2026-03-01T09:00:00Z", End: true }));
  });

  it("States.ALL stands alone, in the last retrier and catcher", () => {
    const task = (extra: Record<string, unknown>) => one({ Type: "Task", Resource: "everruns:agent:a", End: true, ...extra });
    expectIssue(task({ Retry: [{ ErrorEquals: ["States.ALL", "X"] }] }), "definition.States.S.Retry.0.ErrorEquals", "States.ALL must appear alone");
    expectIssue(
      task({ Retry: [{ ErrorEquals: ["States.ALL"] }, { ErrorEquals: ["X"] }] }),
      "definition.States.S.Retry.0.ErrorEquals",
      "States.ALL must be in the last retrier",
    );
    expectIssue(task({ Retry: [{ ErrorEquals: [] }] }), "definition.States.S.Retry.0.ErrorEquals", "at least one error");
    expectIssue(task({ Retry: [{ ErrorEquals: ["X"], BackoffRate: 0.5 }] }), "definition.States.S.Retry.0.BackoffRate", "");
    expectIssue(task({ Retry: [{ ErrorEquals: ["X"], JitterStrategy: "HALF" }] }), "definition.States.S.Retry.0.JitterStrategy", "");
  });

  it("parses paths, reference paths and `.$` templates", () => {
    expectIssue(one({ Type: "Pass", InputPath: "input.x", End: true }), "definition.States.S.InputPath", 'must start with "$"');
    expectIssue(one({ Type: "Pass", ResultPath: "$.items[*]", End: true }), "definition.States.S.ResultPath", "is not a reference path");
    expectIssue(one({ Type: "Pass", ResultPath: "$$.x", End: true }), "definition.States.S.ResultPath", "context path");
    expectIssue(one({ Type: "Pass", OutputPath: "$.a[?(@.b > 1)]", End: true }), "definition.States.S.OutputPath", "filter and script expressions");
    expectIssue(
      one({ Type: "Pass", Parameters: { "x.$": "States.Nope($.a)" }, End: true }),
      "definition.States.S.Parameters.x.$",
      '"x.$": "States.Nope" is not a supported intrinsic function',
    );
    expectIssue(
      one({ Type: "Pass", Parameters: { deep: { "y.$": 42 } }, End: true }),
      "definition.States.S.Parameters.deep.y.$",
      "must be a path or an intrinsic function call",
    );
    expectIssue(
      one({ Type: "Pass", Parameters: { "x.$": "States.ArrayLength($.a, $.b)" }, End: true }),
      "definition.States.S.Parameters.x.$",
      "States.ArrayLength takes 1 argument(s), got 2",
    );
    expectIssue(one({ Type: "Pass", Parameters: { "x.$": "$.a", x: 1 }, End: true }), "definition.States.S.Parameters.x.$", "both set the same output field");
    expectValid(
      one({
        Type: "Pass",
        InputPath: null,
        OutputPath: "$.a['b c'][0]",
        ResultPath: "$.r[2].s",
        Parameters: {
          "f.$": "States.Format('a\\'b \\{\\} {}', States.ArrayLength(States.Array(1, 'x', $.y, null)))",
          "all.$": "$..id",
          "ctx.$": "$$.Execution.Id",
        },
        End: true,
      }),
    );
  });
});

describe("scopes and edges", () => {
  const def = expectValid({
    StartAt: "P",
    States: {
      P: {
        Type: "Parallel",
        Branches: [
          { StartAt: "A", States: { A: pass() } },
          { StartAt: "M", States: { M: { Type: "Map", ItemProcessor: { StartAt: "I", States: { I: pass() } }, End: true } } },
        ],
        Catch: [{ ErrorEquals: ["States.ALL"], Next: "Failed" }],
        Next: "C",
      },
      C: { Type: "Choice", Choices: [{ Variable: "$.ok", BooleanEquals: true, Next: "Done" }], Default: "Failed" },
      Done: { Type: "Succeed" },
      Failed: { Type: "Fail" },
    },
  });

  it("lists every state with its scope", () => {
    const flat = workflowStates(def).map((s) => `${s.scope.join("/")}:${s.name}:${s.type}`);
    expect(flat).toEqual([":P:Parallel", "P[0]:A:Pass", "P[1]:M:Map", "P[1]/M:I:Pass", ":C:Choice", ":Done:Succeed", ":Failed:Fail"]);
    expect(workflowStates(def).find((s) => s.name === "I")?.path).toEqual(["States", "P", "Branches", 1, "States", "M", "ItemProcessor", "States", "I"]);
    expect(stateAt(def, ["P[1]", "M"], "I")?.Type).toBe("Pass");
    expect(stateAt(def, ["P[0]"], "I")).toBeNull();
    expect(scopeMachine(def, ["P[1]"])?.StartAt).toBe("M");
    expect(scopeMachine(def, ["Nope"])).toBeNull();
  });

  it("lists the edges of a scope with labels", () => {
    expect(workflowEdges(def)).toEqual([
      { from: "P", to: "C" },
      { from: "P", to: "Failed", label: "Catch: States.ALL" },
      { from: "C", to: "Done", label: "Choice 1" },
      { from: "C", to: "Failed", label: "Default" },
    ]);
    expect(workflowEdges(def, ["P[1]", "M"])).toEqual([]);
  });
});

describe("input and output processing", () => {
  const input = {
    order: {
      id: "po-7",
      lines: [
        { id: 1, qty: 2 },
        { id: 2, qty: 5 },
      ],
      "net amount": 120,
    },
    user: "ana",
  };
  const context = { Execution: { Id: "run-1", Input: input }, State: { Name: "S", EnteredTime: "2026-01-01T00:00:00Z", RetryCount: 0 } };

  it("reads definite and indefinite paths and the context object", () => {
    expect(readPath(input, "$.order.id")).toBe("po-7");
    expect(readPath(input, "$.order['net amount']")).toBe(120);
    expect(readPath(input, "$.order.lines[1].qty")).toBe(5);
    expect(readPath(input, "$.order.lines[-1].id")).toBe(2);
    expect(readPath(input, "$.order.lines[*].qty")).toEqual([2, 5]);
    expect(readPath(input, "$..qty")).toEqual([2, 5]);
    expect(readPath(input, "$$.Execution.Id", context)).toBe("run-1");
    expect(readPath(null, "$[*]")).toEqual([]);
    const error = workflowError(() => readPath(input, "$.order.missing"));
    expect(error.errorName).toBe("States.Runtime");
    expect(error.cause).toContain('"$.order.missing" selects nothing');
  });

  it("InputPath / OutputPath: absent is the whole document, null is {}", () => {
    expect(selectPath(input, undefined)).toBe(input);
    expect(selectPath(input, null)).toEqual({});
    expect(applyOutputPath({ a: { b: 1 } }, "$.a")).toEqual({ b: 1 });
    const state = parseState({ Type: "Task", Resource: "everruns:agent:a", InputPath: null, Parameters: { "who.$": "$$.Execution.Input.user" }, End: true });
    expect(effectiveInput(state, input, context)).toEqual({ who: "ana" });
  });

  it("builds Parameters with paths, the context object, nesting and intrinsics", () => {
    const out = applyParameters(
      {
        fixed: "x",
        "id.$": "$.order.id",
        "run.$": "$$.Execution.Id",
        nested: { "qtys.$": "$.order.lines[*].qty", list: [{ "u.$": "$.user" }] },
        "title.$": "States.Format('PO {} for {} ({} lines)', $.order.id, $.user, States.ArrayLength($.order.lines))",
        "pair.$": "States.Array($.user, 'b', 3, true, null)",
        "escaped.$": "States.Format('\\{literal\\} {} it\\'s', 'ok')",
      },
      input,
      context,
    );
    expect(out).toEqual({
      fixed: "x",
      id: "po-7",
      run: "run-1",
      nested: { qtys: [2, 5], list: [{ u: "ana" }] },
      title: "PO po-7 for ana (2 lines)",
      pair: ["ana", "b", 3, true, null],
      escaped: "{literal} ok it's",
    });
  });

  it("evaluates the other intrinsic functions", () => {
    const run = (expr: string, doc: unknown = input, ctx: unknown = context) => (applyParameters({ "v.$": expr }, doc, ctx) as { v: unknown }).v;
    expect(run("States.StringToJson('{\"a\":[1,2]}')")).toEqual({ a: [1, 2] });
    expect(run("States.JsonToString($.order.lines[0])")).toBe('{"id":1,"qty":2}');
    expect(run("States.ArrayPartition(States.Array(1,2,3,4,5), 2)")).toEqual([[1, 2], [3, 4], [5]]);
    expect(run("States.ArrayContains($.order.lines, $.order.lines[1])")).toBe(true);
    expect(run("States.ArrayRange(1, 9, 2)")).toEqual([1, 3, 5, 7, 9]);
    expect(run("States.ArrayGetItem(States.Array('a','b','c'), 1)")).toBe("b");
    expect(run("States.ArrayUnique(States.Array(1, 2, 1, 'x', 'x'))")).toEqual([1, 2, "x"]);
    expect(run("States.Base64Encode('Data to encode')")).toBe("RGF0YSB0byBlbmNvZGU=");
    expect(run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')")).toBe("Data to encode");
    expect(run("States.Hash('abc', 'SHA-256')")).toBe(createHash("sha256").update("abc").digest("hex"));
    expect(run("States.Hash('abc', 'MD5')")).toBe("900150983cd24fb0d6963f7d28e17f72");
    expect(run("States.MathAdd(111, -1)")).toBe(110);
    expect(run("States.StringSplit('This.is+a,test', '.+,')")).toEqual(["This", "is", "a", "test"]);

    // Deterministic: the same context gives the same values; another context others.
    const uuid = run("States.UUID()") as string;
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u);
    expect(run("States.UUID()")).toBe(uuid);
    expect(run("States.UUID()", input, { ...context, State: { ...context.State, RetryCount: 1 } })).not.toBe(uuid);
    const two = applyParameters({ "a.$": "States.UUID()", "b.$": "States.UUID()" }, input, context) as { a: string; b: string };
    expect(two.a).not.toBe(two.b);
    const random = run("States.MathRandom(1, 1000)") as number;
    expect(random).toBeGreaterThanOrEqual(1);
    expect(random).toBeLessThan(1000);
    expect(run("States.MathRandom(1, 1000)")).toBe(random);
    expect(run("States.MathRandom(0, 100, 7)", input, {})).toBe(run("States.MathRandom(0, 100, 7)", input, context));
  });

  it("fails intrinsics with States.IntrinsicFailure", () => {
    const fail = (expr: string) => workflowError(() => applyParameters({ "v.$": expr }, input, context));
    expect(fail("States.Format('{} and {}', 'one')").errorName).toBe("States.IntrinsicFailure");
    expect(fail("States.StringToJson('not json')").cause).toContain("States.StringToJson: the argument is not JSON text");
    expect(fail("States.ArrayGetItem(States.Array(1), 5)").cause).toContain("index 5 is out of range");
    expect(fail("States.Hash('abc', 'SHA-3')").cause).toContain("is not one of MD5");
    expect(fail("States.MathAdd('1', 2)").cause).toContain("argument 1 must be an integer");
    expect(fail("States.Unknown()").cause).toContain("not a supported intrinsic function");
  });

  it("applies ResultPath", () => {
    const raw = { a: { keep: true }, n: 1 };
    expect(applyResultPath(raw, { r: 1 }, undefined)).toEqual({ r: 1 });
    expect(applyResultPath(raw, { r: 1 }, "$")).toEqual({ r: 1 });
    expect(applyResultPath(raw, { r: 1 }, null)).toBe(raw);
    expect(applyResultPath(raw, 5, "$.a.b.c")).toEqual({ a: { keep: true, b: { c: 5 } }, n: 1 });
    expect(raw).toEqual({ a: { keep: true }, n: 1 }); // the input is not mutated
    expect(applyResultPath({ list: [0, 1] }, "x", "$.list[1]")).toEqual({ list: [0, "x"] });
    const error = workflowError(() => applyResultPath(raw, 5, "$.n.deeper"));
    expect(error.errorName).toBe("States.Runtime");
    expect(error.cause).toContain('cannot set "deeper" in a number');
    expect(workflowError(() => applyResultPath("text", 5, "$.x")).errorName).toBe("States.Runtime");
  });

  it("computes a Task's output: ResultSelector, ResultPath, OutputPath", () => {
    const state = parseState({
      Type: "Task",
      Resource: "everruns:agent:drafter",
      ResultSelector: { "amount.$": "$.output.amount", source: "agent" },
      ResultPath: "$.po",
      OutputPath: "$.po",
      End: true,
    });
    expect(stateOutput(state, { request: "laptops" }, { output: { amount: 12000, text: "…" } }, context)).toEqual({ amount: 12000, source: "agent" });
    const noOutput = parseState({ Type: "Task", Resource: "everruns:agent:drafter", ResultPath: "$.r", End: true });
    expect(stateOutput(noOutput, { a: 1 }, "done")).toEqual({ a: 1, r: "done" });
  });

  it("Pass, Choice, Wait and Succeed outputs", () => {
    const withResult = parseState<WorkflowState & { Type: "Pass" }>({ Type: "Pass", Result: { x: 1 }, ResultPath: "$.fixed", End: true });
    expect(stateOutput(withResult, { a: 1 }, passResult(withResult, { a: 1 }))).toEqual({ a: 1, fixed: { x: 1 } });
    const echo = parseState<WorkflowState & { Type: "Pass" }>({ Type: "Pass", InputPath: "$.a", Parameters: { "v.$": "$.b" }, End: true });
    expect(stateOutput(echo, { a: { b: 2 } }, passResult(echo, { a: { b: 2 } }))).toEqual({ v: 2 });
    const succeed = parseState({ Type: "Succeed", InputPath: "$.a", OutputPath: "$.b" });
    expect(stateOutput(succeed, { a: { b: 3 } }, undefined)).toBe(3);
  });

  it("Map item inputs: ItemsPath and ItemSelector with $$.Map.Item (the AWS example)", () => {
    const def = expectValid(awsMapParallelExample);
    const map = def.States["Validate-All"] as MapState;
    const raw = {
      "ship-date": "2016-03-14T01:59:00Z",
      detail: {
        "delivery-partner": "UQS",
        shipped: [
          { prod: "R31", "dest-code": 9511, quantity: 1344 },
          { prod: "S39", "dest-code": 9511, quantity: 40 },
        ],
      },
    };
    expect(mapItemInputs(map, raw, context)).toEqual([
      { parcel: { prod: "R31", "dest-code": 9511, quantity: 1344 }, courier: "UQS" },
      { parcel: { prod: "S39", "dest-code": 9511, quantity: 40 }, courier: "UQS" },
    ]);
    const out = stateOutput(map, raw, ["ok-1", "ok-2"]) as typeof raw;
    expect(out.detail.shipped).toEqual(["ok-1", "ok-2"]);
    expect(out["ship-date"]).toBe("2016-03-14T01:59:00Z");
    const notArray = parseState<MapState>({ Type: "Map", ItemsPath: "$.x", ItemProcessor: { StartAt: "I", States: { I: pass() } }, End: true });
    expect(workflowError(() => mapItemInputs(notArray, { x: 5 })).cause).toContain("must select an array");
  });

  it("Fail error and cause, from fields or paths", () => {
    const def = expectValid(procurement);
    const draftFailed = def.States["DraftFailed"] as WorkflowState & { Type: "Fail" };
    expect(failErrorAndCause(draftFailed, { error: { Error: "Agent.Failed", Cause: "model refused" } })).toEqual({
      error: "Agent.Failed",
      cause: "model refused",
    });
    expect(failErrorAndCause(def.States["Rejected"] as WorkflowState & { Type: "Fail" }, {})).toEqual({ error: "PO.Rejected", cause: "an approver said no" });
  });
});

describe("Choice", () => {
  it("runs the AWS documentation example", () => {
    const def = expectValid(awsChoiceExample);
    const state = def.States["ChoiceStateX"] as ChoiceState;
    expect(nextOfChoice(state, { type: "Public", value: 0 })).toBe("Public");
    expect(nextOfChoice(state, { type: "Private", value: 0 })).toBe("ValueIsZero");
    expect(nextOfChoice(state, { type: "Private", value: 25 })).toBe("ValueInTwenties");
    expect(nextOfChoice(state, { type: "Private", value: 30 })).toBe("DefaultState");
    // a missing Variable makes the comparison false: Not(false) matches
    expect(nextOfChoice(state, { value: 25 })).toBe("Public");
  });

  it("routes the procurement amount and approvals", () => {
    const def = expectValid(procurement);
    expect(nextOfChoice(def.States["CheckAmount"] as ChoiceState, { po: { amount: 12000 } })).toBe("DirectorApproval");
    expect(nextOfChoice(def.States["CheckAmount"] as ChoiceState, { po: { amount: 900 } })).toBe("ManagerApproval");
    expect(nextOfChoice(def.States["ManagerApproved?"] as ChoiceState, { manager: { approved: true } })).toBe("WaitForSignature");
    expect(nextOfChoice(def.States["ManagerApproved?"] as ChoiceState, { manager: { approved: false } })).toBe("Rejected");
  });

  const choose = (rule: Record<string, unknown>, input: unknown) => {
    const state = parseState<ChoiceState>({ Type: "Choice", Choices: [{ ...rule, Next: "Yes" }], Default: "No" });
    return nextOfChoice(state, input);
  };

  it("And, Or, Not, IsPresent and type tests", () => {
    const rule = {
      Or: [
        { Variable: "$.vip", BooleanEquals: true },
        { And: [{ Variable: "$.total", NumericGreaterThan: 100 }, { Not: { Variable: "$.coupon", IsPresent: true } }] },
      ],
    };
    expect(choose(rule, { vip: true })).toBe("Yes");
    expect(choose(rule, { total: 150 })).toBe("Yes");
    expect(choose(rule, { total: 150, coupon: "X" })).toBe("No");
    expect(choose(rule, { total: "150" })).toBe("No"); // a string is not a number
    expect(choose({ Variable: "$.x", IsPresent: false }, {})).toBe("Yes");
    expect(choose({ Variable: "$.x", IsNull: true }, { x: null })).toBe("Yes");
    expect(choose({ Variable: "$.x", IsNull: true }, {})).toBe("No");
    expect(choose({ Variable: "$.x", IsNumeric: true }, { x: 3 })).toBe("Yes");
    expect(choose({ Variable: "$.x", IsString: false }, { x: 3 })).toBe("Yes");
    expect(choose({ Variable: "$.x", IsBoolean: true }, { x: false })).toBe("Yes");
    expect(choose({ Variable: "$.x", IsTimestamp: true }, { x: "2026-01-01T00:00:00Z" })).toBe("Yes");
    expect(choose({ Variable: "$.x", IsTimestamp: true }, { x: "Jan 1" })).toBe("No");
  });

  it("compares timestamps as instants and against paths", () => {
    expect(choose({ Variable: "$.t", TimestampEquals: "2026-01-01T08:00:00Z" }, { t: "2026-01-01T10:00:00+02:00" })).toBe("Yes");
    expect(choose({ Variable: "$.t", TimestampLessThan: "2026-01-01T08:00:00Z" }, { t: "2026-01-01T07:59:59.5Z" })).toBe("Yes");
    expect(choose({ Variable: "$.t", TimestampGreaterThanPath: "$.deadline" }, { t: "2026-02-01T00:00:00Z", deadline: "2026-01-31T23:00:00-02:00" })).toBe(
      "No",
    );
    expect(choose({ Variable: "$.a", NumericLessThanEqualsPath: "$.b" }, { a: 3, b: 3 })).toBe("Yes");
    expect(choose({ Variable: "$.a", NumericLessThanEqualsPath: "$.missing" }, { a: 3 })).toBe("No");
    expect(choose({ Variable: "$.s", StringGreaterThanEquals: "b" }, { s: "bravo" })).toBe("Yes");
  });

  it("StringMatches with * wildcards and \\* escapes", () => {
    expect(choose({ Variable: "$.f", StringMatches: "log-*.txt" }, { f: "log-2026-01.txt" })).toBe("Yes");
    expect(choose({ Variable: "$.f", StringMatches: "log-*.txt" }, { f: "log-2026-01.csv" })).toBe("No");
    expect(choose({ Variable: "$.f", StringMatches: "a\\*b" }, { f: "a*b" })).toBe("Yes");
    expect(choose({ Variable: "$.f", StringMatches: "a\\*b" }, { f: "axb" })).toBe("No");
    expect(choose({ Variable: "$.f", StringMatches: "(x).*" }, { f: "(x).anything" })).toBe("Yes");
  });

  it("no match and no Default is States.NoChoiceMatched", () => {
    const state = parseState<ChoiceState>({ Type: "Choice", Choices: [{ Variable: "$.x", NumericEquals: 1, Next: "A" }] });
    expect(workflowError(() => nextOfChoice(state, { x: 2 })).errorName).toBe("States.NoChoiceMatched");
  });
});

describe("Retry, Catch and Wait", () => {
  it("backs off IntervalSeconds × BackoffRate^n up to MaxAttempts", () => {
    const retriers: Retrier[] = [{ ErrorEquals: ["States.TaskFailed"] }];
    expect([0, 1, 2, 3].map((n) => retryDelayMs(retriers, "Agent.Error", [n]))).toEqual([1000, 2000, 4000, null]);
    const capped: Retrier[] = [{ ErrorEquals: ["X"], IntervalSeconds: 10, BackoffRate: 3, MaxAttempts: 10, MaxDelaySeconds: 60 }];
    expect([0, 1, 2, 3].map((n) => retryDelayMs(capped, "X", [n]))).toEqual([10_000, 30_000, 60_000, 60_000]);
    const jitter: Retrier[] = [{ ErrorEquals: ["X"], IntervalSeconds: 4, JitterStrategy: "FULL" }];
    expect(retryDelayMs(jitter, "X", [1], () => 0.25)).toBe(2000);
    expect(retryDelayMs([{ ErrorEquals: ["X"], MaxAttempts: 0 }], "X", [0])).toBeNull();
  });

  it("uses the first matching retrier, counting per retrier", () => {
    const retriers: Retrier[] = [
      { ErrorEquals: ["States.Timeout"], MaxAttempts: 1, IntervalSeconds: 7 },
      { ErrorEquals: ["States.ALL"], IntervalSeconds: 2 },
    ];
    expect(matchingRetrier(retriers, "States.Timeout")).toBe(0);
    expect(retryDelayMs(retriers, "States.Timeout", [0, 0])).toBe(7000);
    // the matching retrier is used up: no fall-through to States.ALL
    expect(retryDelayMs(retriers, "States.Timeout", [1, 0])).toBeNull();
    expect(retryDelayMs(retriers, "Http.500", [1, 2])).toBe(8000);
    // States.Runtime is never retried, States.TaskFailed does not match States.Timeout
    expect(retryDelayMs(retriers, "States.Runtime", [0, 0])).toBeNull();
    expect(retryDelayMs([{ ErrorEquals: ["States.TaskFailed"] }], "States.Timeout", [0])).toBeNull();
    expect(retryDelayMs(undefined, "X", [])).toBeNull();
  });

  it("finds the catcher", () => {
    const catchers = [
      { ErrorEquals: ["PO.Rejected"], Next: "Rejected" },
      { ErrorEquals: ["States.TaskFailed"], Next: "TaskFailed" },
      { ErrorEquals: ["States.ALL"], Next: "Any" },
    ];
    expect(catcherFor(catchers, "PO.Rejected")?.Next).toBe("Rejected");
    expect(catcherFor(catchers, "Agent.Error")?.Next).toBe("TaskFailed");
    expect(catcherFor(catchers, "States.Timeout")?.Next).toBe("Any");
    expect(catcherFor(catchers, "States.Runtime")).toBeNull();
    expect(catcherFor([{ ErrorEquals: ["States.Runtime"], Next: "R" }], "States.Runtime")?.Next).toBe("R");
    expect(catcherFor(undefined, "X")).toBeNull();
  });

  it("computes when a Wait ends", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    const wait = (state: Record<string, unknown>) => parseState<WaitState>({ ...state, Type: "Wait", End: true });
    expect(waitUntil(wait({ Seconds: 90 }), {}, now)).toBe(now + 90_000);
    expect(waitUntil(wait({ Timestamp: "2026-01-03T00:00:00+01:00" }), {}, now)).toBe(Date.parse("2026-01-02T23:00:00Z"));
    expect(waitUntil(wait({ SecondsPath: "$.delay" }), { delay: 3 }, now)).toBe(now + 3000);
    expect(waitUntil(wait({ TimestampPath: "$.due" }), { due: "2026-02-01T00:00:00Z" }, now)).toBe(Date.parse("2026-02-01T00:00:00Z"));
    expect(workflowError(() => waitUntil(wait({ SecondsPath: "$.delay" }), { delay: -1 }, now)).errorName).toBe("States.Runtime");
    expect(workflowError(() => waitUntil(wait({ TimestampPath: "$.due" }), { due: "tomorrow" }, now)).cause).toContain("RFC 3339");
    expect(workflowError(() => waitUntil(wait({ SecondsPath: "$.none" }), {}, now)).cause).toContain("selects nothing");
  });
});
