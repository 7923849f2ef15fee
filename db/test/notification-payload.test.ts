// What a run's end puts in its notifications (000026): one delivery per enabled endpoint that
// wants the event (and, with agent_id, is of the run's agent), with its job, in the transaction
// that ends the run; a large output is left out of the payload, a disabled endpoint gets nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

interface Delivery {
  endpoint: string;
  event: string;
  payload: { type: string; data: { run_id: string; status: string; output: unknown; output_omitted: boolean } };
  job: number;
}

async function deliveriesOf(runId: string): Promise<Delivery[]> {
  const { rows } = await db.pool.query<Delivery>(
    `select e.name as endpoint, d.event, d.payload,
            (select count(*)::int from graphile_worker.jobs j where j.key = 'notify:' || d.id::text) as job
       from everruns.notification_deliveries d join everruns.notification_endpoints e on e.id = d.endpoint_id
      where d.subject_id = $1 order by e.name`,
    [runId],
  );
  return rows;
}

async function endRun(runId: string, status: string, output: unknown): Promise<void> {
  await db.pool.query("update everruns.runs set status = $2, output = $3, finished_at = now() where id = $1", [runId, status, JSON.stringify(output)]);
}

describe("a run's end queues its notifications", () => {
  it("one delivery and one job per endpoint that wants the event; agent filters and disabled endpoints respected; large outputs left out", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", model: "s" });
    const other = await createAgent(db.pool, { provider: "scripted", model: "s" });
    await db.pool.query(
      `insert into everruns.notification_endpoints (name, url, events, secret_name, agent_id, enabled) values
         ('all-ends', 'https://example.com/a', '{run.succeeded,run.failed}', 'sig', null, true),
         ('failures', 'https://example.com/b', '{run.failed}', 'sig', null, true),
         ('other-agent', 'https://example.com/c', '{run.succeeded}', 'sig', $2, true),
         ('disabled', 'https://example.com/d', '{run.succeeded}', 'sig', null, false),
         ('mine', 'https://example.com/e', '{run.succeeded}', 'sig', $1, true)`,
      [agent, other],
    );
    const small = await startRun(db.pool, agent);
    await endRun(small, "succeeded", { text: "done" });
    const smallDeliveries = await deliveriesOf(small);
    expect(smallDeliveries.map((d) => [d.endpoint, d.event, d.job])).toEqual([
      ["all-ends", "run.succeeded", 1],
      ["mine", "run.succeeded", 1],
    ]);
    expect(smallDeliveries[0]!.payload).toMatchObject({
      type: "run.succeeded",
      data: { run_id: small, status: "succeeded", output: { text: "done" }, output_omitted: false },
    });

    const big = await startRun(db.pool, agent);
    await endRun(big, "failed", { text: "x".repeat(70_000) });
    const bigDeliveries = await deliveriesOf(big);
    expect(bigDeliveries.map((d) => [d.endpoint, d.event])).toEqual([
      ["all-ends", "run.failed"],
      ["failures", "run.failed"],
    ]);
    for (const d of bigDeliveries) expect(d.payload.data).toMatchObject({ run_id: big, status: "failed", output: null, output_omitted: true });
  });
});
