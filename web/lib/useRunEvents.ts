"use client";
// A run's AG-UI event log, live: the runEvents subscription replays what is stored, then
// follows what is committed, and completes after the terminal event. Events that arrive in
// one animation frame are applied together (a fast stream re-renders ~60 times a second at
// most). A reconnect resumes after the last seq received: the payload's `after` is kept current.
import { useEffect, useMemo, useRef, useState } from "react";
import { foldEvents, initialConversation, type Conversation } from "./agui";
import { subscribe } from "./graphql";
import { RUN_EVENTS_SUBSCRIPTION } from "./queries";
import { agUiEventOf, type Interrupt, type RunEventMessage, type RunInput } from "./types";

export interface RunEventsState {
  events: RunEventMessage[];
  conversation: Conversation;
  /** the subscription completed (the log ended with RUN_FINISHED / RUN_ERROR) */
  done: boolean;
  error: string | null;
}

export function useRunEvents(
  runId: string | null,
  input: RunInput | null | undefined,
  onBatch?: (batch: RunEventMessage[]) => void,
  parentInterrupts: Interrupt[] | null = null,
): RunEventsState {
  const [events, setEvents] = useState<RunEventMessage[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const onBatchRef = useRef(onBatch);
  onBatchRef.current = onBatch;

  useEffect(() => {
    setEvents([]);
    setDone(false);
    setError(null);
    if (!runId) return;
    const payload = { query: RUN_EVENTS_SUBSCRIPTION, variables: { runId, after: 0 } };
    let pending: RunEventMessage[] = [];
    let frame: number | null = null;
    let last = 0;
    const flush = () => {
      frame = null;
      const batch = pending;
      pending = [];
      if (batch.length === 0) return;
      setEvents((prev) => prev.concat(batch));
      onBatchRef.current?.(batch);
    };
    const unsubscribe = subscribe(payload, {
      next: ({ runEvents }) => {
        if (!runEvents || runEvents.seq <= last) return; // a reconnect may replay what we have
        last = runEvents.seq;
        payload.variables.after = last;
        pending.push({ ...runEvents, event: agUiEventOf(runEvents.event) ?? { type: runEvents.type } });
        frame ??= requestAnimationFrame(flush);
      },
      error: (e) => setError(e.message),
      complete: () => {
        if (frame !== null) cancelAnimationFrame(frame);
        flush();
        setDone(true);
      },
    });
    return () => {
      if (frame !== null) cancelAnimationFrame(frame);
      unsubscribe();
    };
  }, [runId]);

  // fold incrementally: only the events not folded yet, unless the input changed
  const cache = useRef<{ inputKey: string; conversation: Conversation } | null>(null);
  const inputKey = `${runId}:${JSON.stringify(input ?? null)}:${JSON.stringify(parentInterrupts)}`;
  const conversation = useMemo(() => {
    const base =
      cache.current && cache.current.inputKey === inputKey && cache.current.conversation.lastSeq <= (events.at(-1)?.seq ?? 0) && events.length > 0
        ? cache.current.conversation
        : initialConversation(input, parentInterrupts);
    const folded = foldEvents(base, events);
    cache.current = { inputKey, conversation: folded };
    return folded;
  }, [events, inputKey]);

  return { events, conversation, done, error };
}
