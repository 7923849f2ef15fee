import type { Queryable } from "../pool.ts";

/**
 * Deferred notifications (000017, issue 23). Postgres holds one database-wide lock from a
 * transaction's first NOTIFY until after its commit's WAL flush, so step commits that NOTIFY
 * cannot group-commit. A worker step statement may instead defer them: it calls
 * everruns_private.defer_notifications() first, the engine's notifications of its transaction
 * are collected in the transaction-local setting everruns.deferred_notifications ("<channel>
 * <payload>" a line), and the same statement reads that setting back. The worker sends them
 * after the commit (sendNotifications, batched by worker/notifier.ts).
 */

/** A notification to send: channel and payload, exactly as the engine would have sent them. */
export interface Notification {
  channel: string;
  payload: string;
}

/** What a worker step statement takes last. */
export interface StepStatementOptions {
  /**
   * Collect the statement's notifications and return them instead of sending them with its
   * commit: the caller must send them (worker/notifier.ts), or listeners learn late. Only for a
   * statement that is its own transaction (a pool, not a client inside `begin`): the deferral
   * lasts until the transaction ends.
   */
  deferNotifications?: boolean;
}

/** The notifications a deferred statement returned: none when it did not defer. */
export interface WithNotifications {
  notifications: Notification[];
}

/**
 * The statement that runs `call` (an SQL expression of $n parameters, never values) with its
 * notifications deferred: `result` is the call's value, `notifications` the collected lines.
 * The function in FROM runs before the CTE's projection, and the materialized CTE is read
 * before the outer projection reads the setting, so the setting holds every line of the call.
 */
export function deferringStatement(call: string): string {
  return (
    `with r as materialized (select ${call} as result from everruns_private.defer_notifications()) ` +
    `select r.result, current_setting('everruns.deferred_notifications', true) as notifications from r`
  );
}

/** The lines of everruns.deferred_notifications as notifications (channel names hold no space). */
export function parseNotifications(text: string | null | undefined): Notification[] {
  if (!text) return [];
  const list: Notification[] = [];
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ");
    if (space <= 0) continue;
    list.push({ channel: line.slice(0, space), payload: line.slice(space + 1) });
  }
  return list;
}

/**
 * Sends notifications in one statement, its own short transaction. A transaction that only
 * notifies writes no commit record, so its commit waits for no WAL flush (measured: 200 such
 * sends, 2-3 WAL syncs, none of them theirs): the notify lock is held only for the moment the
 * commit takes, and one send may carry the notifications of many step commits. One round trip.
 * Listeners get them as from any other transaction (Postgres delivers at commit).
 */
export async function sendNotifications(db: Queryable, list: readonly Notification[]): Promise<void> {
  if (list.length === 0) return;
  await db.query("select pg_notify(t.c, t.p) from unnest($1::text[], $2::text[]) as t(c, p)", [list.map((n) => n.channel), list.map((n) => n.payload)]);
}
