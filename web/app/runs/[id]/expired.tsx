// A run whose events and steps retention removed (000038: historyExpiredAt set): the run page
// says so where the conversation would be, instead of an empty one. The run's summary (status,
// input, output, usage) is the row, which stays.
import { formatInstant, parseTime } from "@/lib/format";

/** "Dec 1, 2026" in the viewer's locale, the full instant on hover. */
function day(value: string): string {
  const t = parseTime(value);
  return t == null ? value : new Date(t).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function HistoryExpired({ expiredAt, retentionDays }: { expiredAt: string; retentionDays: number | null | undefined }) {
  const retention = retentionDays == null ? "retention since turned off" : `retention ${retentionDays} day${retentionDays === 1 ? "" : "s"}`;
  return (
    <div data-testid="history-expired" className="rounded border border-amber-200 bg-amber-50/60 px-4 py-3 text-sm text-amber-900">
      <p className="font-medium">
        History expired on{" "}
        <time dateTime={expiredAt} title={formatInstant(expiredAt)}>
          {day(expiredAt)}
        </time>{" "}
        ({retention})
      </p>
      <p className="mt-1 text-amber-800">
        The workspace&apos;s retention removed this finished run&apos;s events and steps. Its status, input, output and usage stay.
      </p>
    </div>
  );
}
