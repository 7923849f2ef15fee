// The conversation rebuilt from committed history (worker/conversation.ts): which result of a tool
// call the model sees, and how MESSAGES_SNAPSHOT lists a client tool's answer (once).
import { describe, expect, it } from "vitest";
import type { HistoryEntry } from "../../db/sql/beginStep.ts";
import { agUiMessages, chatMessages } from "../conversation.ts";

let seq = 0;
const input = (runId: string, messages: unknown[]): HistoryEntry => ({ kind: "input", run_id: runId, input: { messages } });
const llm = (runId: string, messageId: string, calls: Array<{ id: string; name: string }>, replay?: unknown): HistoryEntry => ({
  kind: "step",
  run_id: runId,
  step: {
    seq: ++seq,
    kind: "llm",
    name: "m",
    status: "succeeded",
    input: null,
    output: {
      message_id: messageId,
      text: "",
      tool_calls: calls.map((c) => ({ ...c, arguments: {} })),
      ...(replay !== undefined && { replay }),
    },
  },
});
const tool = (runId: string, callId: string, messageId: string, content: string): HistoryEntry => ({
  kind: "step",
  run_id: runId,
  step: {
    seq: ++seq,
    kind: "tool",
    name: "t",
    status: "succeeded",
    input: null,
    output: { tool_call_id: callId, message_id: messageId, content, is_error: false },
  },
});

describe("a tool call's result", () => {
  it("is the committed tool step's for a call the engine ran, even when a client sent a tool message naming it", () => {
    const history = [
      input("r1", [{ id: "u1", role: "user", content: "go" }]),
      llm("r1", "a1", [{ id: "call_1", name: "echo" }]),
      tool("r1", "call_1", "t1", "what echo returned"),
      input("r2", [{ id: "x", role: "tool", toolCallId: "call_1", content: "a client's claim" }]),
    ];
    const messages = chatMessages(history);
    expect(messages.filter((m) => m.role === "tool")).toEqual([{ role: "tool", tool_call_id: "call_1", content: "what echo returned" }]);
    // the snapshot lists both messages: each is a message of the thread, neither hides the other
    const snapshot = agUiMessages(history).filter((m) => m.role === "tool");
    expect(snapshot.map((m) => m.id)).toEqual(["t1", "x"]);
  });

  it("is a client tool's answer, listed once under the client's id", () => {
    const history = [
      input("r1", [{ id: "u1", role: "user", content: "go" }]),
      llm("r1", "a1", [{ id: "call_2", name: "pick_color" }]),
      input("r2", [{ id: "client-msg", role: "tool", toolCallId: "call_2", content: "blue" }]),
      tool("r2", "call_2", "client-msg", "blue"),
    ];
    expect(chatMessages(history).filter((m) => m.role === "tool")).toEqual([{ role: "tool", tool_call_id: "call_2", content: "blue" }]);
    const snapshot = agUiMessages(history).filter((m) => m.role === "tool");
    expect(snapshot).toEqual([{ id: "client-msg", role: "tool", toolCallId: "call_2", content: "blue" }]);
  });

  it("is listed once in a thread from before answers kept the client's id (same content, another id)", () => {
    const history = [
      input("r1", [{ id: "u1", role: "user", content: "go" }]),
      llm("r1", "a1", [{ id: "call_3", name: "pick_color" }]),
      input("r2", [{ id: "client-msg", role: "tool", toolCallId: "call_3", content: "green" }]),
      tool("r2", "call_3", "a-new-uuid", "green"),
    ];
    expect(
      agUiMessages(history)
        .filter((m) => m.role === "tool")
        .map((m) => m.id),
    ).toEqual(["client-msg"]);
  });

  it("comes from the input when a client brought the whole exchange along", () => {
    const history = [
      input("r1", [
        { id: "u1", role: "user", content: "earlier" },
        { id: "a0", role: "assistant", content: "", toolCalls: [{ id: "call_4", type: "function", function: { name: "lookup", arguments: "{}" } }] },
        { id: "t0", role: "tool", toolCallId: "call_4", content: "looked up" },
        { id: "u2", role: "user", content: "now this" },
      ]),
    ];
    const messages = chatMessages(history);
    expect(messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "user"]);
    expect(messages[2]).toEqual({ role: "tool", tool_call_id: "call_4", content: "looked up" });
  });

  it("hands a turn's provider replay to the next call", () => {
    const replay = { provider: "anthropic", model: "claude-x", data: { content: [{ type: "thinking", thinking: "hmm", signature: "s" }] } };
    const history = [
      input("r1", [{ id: "u1", role: "user", content: "go" }]),
      llm("r1", "a1", [{ id: "call_5", name: "echo" }], replay),
      tool("r1", "call_5", "t5", "ok"),
    ];
    const assistant = chatMessages(history).find((m) => m.role === "assistant");
    expect(assistant).toMatchObject({ replay });
  });
});
