"use client";
// The raw AG-UI event log of a run, as stored: seq, type, the whole event object. Events of an
// attempt that did not commit (its worker died, it was fenced out, retried or handed back) are
// marked superseded, and the END events a later attempt wrote to close what a lost one left
// open are labelled as such, not shown as a normal STEP_FINISHED. Each event's time is shown as
// people read it beside it; the raw JSON keeps the stored epoch milliseconds (`timestamp`).
import { useMemo, useState } from "react";
import { attemptOutcomeLabel, type EventAttemptMark } from "@/lib/agui";
import type { RunEventMessage } from "@/lib/types";
import { Timestamp } from "./ui";

const SHOWN = 400;

export function EventLog({ events, marks = new Map() }: { events: RunEventMessage[]; marks?: ReadonlyMap<number, EventAttemptMark> }) {
  const [type, setType] = useState("");
  const [all, setAll] = useState(false);
  const types = useMemo(() => [...new Set(events.map((e) => e.type))].sort(), [events]);
  const filtered = type ? events.filter((e) => e.type === type) : events;
  const shown = all ? filtered : filtered.slice(-SHOWN);
  return (
    <div data-testid="event-log">
      <div className="flex items-center gap-2 border-b border-slate-100 px-4 py-2 text-xs text-slate-500">
        <label className="flex items-center gap-1.5">
          Type
          <select
            value={type}
            onChange={(e) => setType(e.target.value)}
            className="rounded border border-slate-300 bg-white px-1.5 py-0.5 text-xs text-slate-800"
          >
            <option value="">all ({events.length})</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t} ({events.filter((e) => e.type === t).length})
              </option>
            ))}
          </select>
        </label>
        {filtered.length > shown.length && (
          <button type="button" onClick={() => setAll(true)} className="text-sky-700 hover:underline">
            show all {filtered.length} (the last {SHOWN} are shown)
          </button>
        )}
      </div>
      <div className="max-h-[480px] overflow-auto">
        <table className="w-full text-xs">
          <tbody className="divide-y divide-slate-100 font-mono">
            {shown.map((e) => {
              const mark = marks.get(e.seq);
              return (
                <tr
                  key={e.seq}
                  data-testid="event-row"
                  data-type={e.type}
                  data-superseded={mark ? (mark.closing ? "closing" : "superseded") : undefined}
                  className={`align-top hover:bg-slate-50 ${mark ? "bg-rose-50/40 text-slate-400" : ""}`}
                >
                  <td className="w-12 px-4 py-1 text-right text-slate-400">{e.seq}</td>
                  <td className="w-24 whitespace-nowrap px-2 py-1 font-sans text-slate-500" data-testid="event-time">
                    {typeof e.event.timestamp === "number" ? <Timestamp value={e.event.timestamp} /> : "—"}
                  </td>
                  <td className="w-56 whitespace-nowrap px-2 py-1">
                    <span className={mark ? "font-medium text-slate-400 line-through decoration-rose-300" : "font-medium text-slate-700"}>{e.type}</span>
                    {mark && (
                      <span
                        data-testid="event-mark"
                        title={`step ${mark.step}, attempt ${mark.attempt}: ${attemptOutcomeLabel(mark.outcome, true)}`}
                        className="ml-1.5 rounded bg-rose-100 px-1 py-px font-sans text-[10px] font-medium text-rose-800"
                      >
                        {mark.closing ? `closed after attempt ${mark.attempt} was lost` : `attempt ${mark.attempt} · superseded`}
                      </span>
                    )}
                  </td>
                  <td className="px-2 py-1 pr-4 break-all text-slate-500">{compact(e.event)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {events.length === 0 && <p className="px-4 py-6 text-center text-sm text-slate-500">No events yet.</p>}
      </div>
    </div>
  );
}

function compact(event: Record<string, unknown>): string {
  const { type: _type, ...rest } = event;
  void _type;
  return JSON.stringify(rest);
}
