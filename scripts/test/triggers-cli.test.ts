// `everruns schedules`, `webhooks`, `notify` and `trigger` as a user runs them: real CLI processes
// against a real API, a real worker (with its schedule ticker) and a real Postgres. A schedule
// created, listed, shown with its next fire times (in its time zone and UTC, as lib/schedule-times.ts
// computes them), paused, resumed and deleted; an every-second schedule's fires with their runs; a
// webhook created with its URL and the reminder to set its secret, the secret set with the command
// the reminder prints, a test delivery and a real signed delivery to the printed URL; a
// notification endpoint and its deliveries; an agent triggered twice on one thread key, and
// followed; and the errors: a bad cron, an unknown agent, bad flags, each one line and exit 1.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { nextOccurrences } from "../../lib/schedule-times.ts";
import { generateSecretKey, SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { startTestApi, type TestApiHandle } from "../../api/test/helpers.ts";
import { everySeconds, hookUrl, unsetSecretNames, upcomingFires, zonedTime } from "../triggers-command.ts";
import { PROJECT_ROOT } from "../database.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_IN_TEXT = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let dir: string;
const secretKey = generateSecretKey();
const previousKey = process.env[SECRET_KEY_ENV];

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        EVERRUNS_API_URL: api.url,
        EVERRUNS_API_KEY: api.key,
        [SECRET_KEY_ENV]: secretKey,
        LOG_LEVEL: "warn",
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}

/** Runs the CLI and expects exit 0, saying what it printed otherwise. */
async function ok(args: string[], stdin?: string): Promise<CliResult> {
  const result = await cli(args, stdin);
  expect(result.code, `everruns ${args.join(" ")}\n${result.stderr}${result.stdout}`).toBe(0);
  return result;
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(`select count(*) as n from ${sql}`, params);
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  process.env[SECRET_KEY_ENV] = secretKey; // the API opens the webhook's secrets with it
  db = await createTestDatabase();
  worker = await startWorker({
    databaseUrl: db.url,
    concurrency: 8,
    shutdownTimeoutMs: 2000,
    scheduleTickMs: 200,
    log: consoleLogger("[test-worker]", "error"),
  });
  api = await startTestApi(db.url);
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "report done" }] }, "reporter");
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "handled" }] }, "monitor");
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "hooked" }] }, "hook-agent");
  dir = mkdtempSync(path.join(tmpdir(), "everruns-triggers-cli-"));
}, 60_000);

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (previousKey === undefined) delete process.env[SECRET_KEY_ENV];
  else process.env[SECRET_KEY_ENV] = previousKey;
});

describe("everruns schedules", () => {
  const CRON = "0 9 * * 1-5";
  const ZONE = "Europe/Berlin";
  let id: string;

  it("create prints the id; list shows it", async () => {
    const created = await ok([
      "schedules",
      "create",
      "weekday-report",
      "--agent",
      "reporter",
      "--cron",
      CRON,
      "--timezone",
      ZONE,
      "--prompt",
      "Write the report for {{fire_time_local}}",
      "--overlap",
      "buffer_one",
      "--catch-up",
      "all",
      "--catch-up-max",
      "3",
      "--pause-after-failures",
      "5",
    ]);
    id = created.stdout.trim();
    expect(id).toMatch(UUID);
    expect(created.stderr).toMatch(/^created schedule weekday-report \(cron 0 9 \* \* 1-5, Europe\/Berlin\): next fire \d{4}-\d\d-\d\d 09:00:00 UTC\+[12] \(/);
    const { rows } = await db.pool.query(
      "select cron, timezone, overlap, catch_up, catch_up_max, pause_after_failures, input from everruns.schedules where id = $1",
      [id],
    );
    expect(rows[0]).toMatchObject({
      cron: CRON,
      timezone: ZONE,
      overlap: "buffer_one",
      catch_up: "all",
      catch_up_max: 3,
      pause_after_failures: 5,
      input: { messages: [{ role: "user", content: "Write the report for {{fire_time_local}}" }] },
    });
    const list = await ok(["schedules", "list"]);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+weekday-report\\s+cron 0 9 \\* \\* 1-5\\s+Europe/Berlin\\s+active`));
    const json = JSON.parse((await ok(["schedules", "list", "--json"])).stdout) as Array<{ id: string }>;
    expect(json.map((s) => s.id)).toContain(id);
  }, 30_000);

  it("show prints the next 5 fire times in the schedule's zone and in UTC, by name or id", async () => {
    const before = new Date();
    const shown = await ok(["schedules", "show", "weekday-report"]);
    const expected = nextOccurrences({ cron: CRON, intervalSeconds: null, timezone: ZONE, anchor: before }, before, 5);
    expect(shown.stdout).toMatch(/when\s+cron 0 9 \* \* 1-5/);
    expect(shown.stdout).toMatch(/status\s+active/);
    expect(shown.stdout).toMatch(/next fire times:\n#\s+LOCAL \(EUROPE\/BERLIN\)\s+UTC\n/);
    for (const [i, at] of expected.entries()) {
      expect(shown.stdout).toContain(`${i + 1}  ${zonedTime(at, ZONE)}  ${at.toISOString()}`);
      expect(zonedTime(at, ZONE)).toMatch(/ 09:00:00 UTC\+[12]$/);
    }
    expect(shown.stdout).toMatch(/recent fires:\n {2}none yet/);
    const byId = JSON.parse((await ok(["schedules", "show", id, "--json"])).stdout) as { name: string; next_fire_times: string[] };
    expect(byId.name).toBe("weekday-report");
    expect(byId.next_fire_times).toEqual(expected.map((d) => d.toISOString()));
    const next = await ok(["schedules", "next", "weekday-report", "--count", "8"]);
    expect(next.stdout.trimEnd().split("\n")).toHaveLength(9); // a header and 8 times
  }, 30_000);

  it("pause with a note, then resume", async () => {
    const paused = await ok(["schedules", "pause", "weekday-report", "--note", "holidays"]);
    expect(paused.stdout).toBe("paused schedule weekday-report (holidays)\n");
    expect((await db.pool.query("select paused, paused_note from everruns.schedules where id = $1", [id])).rows[0]).toEqual({
      paused: true,
      paused_note: "holidays",
    });
    const shown = await ok(["schedules", "show", id]);
    expect(shown.stdout).toMatch(/status\s+paused: holidays/);
    expect(shown.stdout).toContain("next fire times: none while paused (everruns schedules resume weekday-report)");
    expect(JSON.parse((await ok(["schedules", "list", "--json"])).stdout)).toEqual([expect.objectContaining({ id, paused: true })]);
    const resumed = await ok(["schedules", "resume", "weekday-report"]);
    expect(resumed.stdout).toMatch(/^resumed schedule weekday-report: next fire \d{4}-\d\d-\d\d 09:00:00 UTC\+[12] /);
    expect((await db.pool.query("select paused from everruns.schedules where id = $1", [id])).rows[0]).toEqual({ paused: false });
  }, 30_000);

  it("an every-second schedule fires: fires and show list each fire with its run", async () => {
    const created = await ok(["schedules", "create", "heartbeat", "--agent", "reporter", "--every", "1s", "--prompt", "beat at {{fire_time}}"]);
    const beatId = created.stdout.trim();
    await waitFor(
      "two fires' runs succeeded",
      async () =>
        (await count("everruns.schedule_fires f join everruns.runs r on r.id = f.run_id where f.schedule_id = $1 and r.status = 'succeeded'", [beatId])) >= 2,
      20_000,
      100,
    );
    await ok(["schedules", "pause", "heartbeat"]); // no more fires while the rest is checked
    const fires = await ok(["schedules", "fires", "heartbeat", "--limit", "50"]);
    const { rows } = await db.pool.query<{ run_id: string }>("select run_id from everruns.schedule_fires where schedule_id = $1 and run_id is not null", [
      beatId,
    ]);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const { run_id } of rows) expect(fires.stdout).toContain(run_id);
    expect(fires.stdout).toMatch(/started\s+[0-9a-f-]{36}\s+succeeded/);
    const shown = await ok(["schedules", "show", "heartbeat"]);
    expect(shown.stdout).toMatch(/when\s+every 1s/);
    expect(shown.stdout).toContain(rows[0]!.run_id);
    const json = JSON.parse((await ok(["schedules", "fires", beatId, "--json"])).stdout) as Array<{ run_id: string }>;
    expect(json.length).toBe(rows.length);
    const { rows: inputs } = await db.pool.query<{ input: { messages: Array<{ content: string }> } }>("select input from everruns.runs where id = $1", [
      rows[0]!.run_id,
    ]);
    expect(inputs[0]!.input.messages[0]!.content).toMatch(/^beat at \d{4}-\d\d-\d\dT/); // {{fire_time}} filled in
    await ok(["schedules", "delete", beatId]);
  }, 60_000);

  it("delete removes it; naming it again is one clear line", async () => {
    const deleted = await ok(["schedules", "delete", "weekday-report"]);
    expect(deleted.stdout).toBe("deleted schedule weekday-report\n");
    expect(await count("everruns.schedules where id = $1", [id])).toBe(0);
    const again = await cli(["schedules", "show", "weekday-report"]);
    expect(again).toMatchObject({ code: 1, stdout: "" });
    expect(again.stderr).toBe('everruns: no schedule named "weekday-report" in this workspace (everruns schedules list shows them)\n');
    const byId = await cli(["schedules", "show", id]);
    expect(byId.stderr).toBe(`everruns: unknown schedule ${id} (everruns schedules list shows the workspace's)\n`);
  }, 30_000);

  it("a bad cron, an unknown time zone or agent, bad flags: exit 1 with one line, nothing created", async () => {
    const before = await count("everruns.schedules");
    const badCron = await cli(["schedules", "create", "bad", "--agent", "reporter", "--cron", "61 * * * *"]);
    expect(badCron.code).toBe(1);
    expect(badCron.stdout).toBe("");
    expect(badCron.stderr).toMatch(/^everruns: --cron "61 \* \* \* \*": .+\n$/);
    const fields = await cli(["schedules", "create", "bad", "--agent", "reporter", "--cron", "0 9 * *"]);
    expect(fields.stderr).toMatch(/^everruns: --cron "0 9 \* \*": .*expected 5 fields/);
    const zone = await cli(["schedules", "create", "bad", "--agent", "reporter", "--every", "5m", "--timezone", "Mars/Olympus"]);
    expect(zone.code).toBe(1);
    expect(zone.stderr).toMatch(/^everruns: the schedule: .*Mars\/Olympus/);
    const agent = await cli(["schedules", "create", "bad", "--agent", "no-such-agent", "--every", "5m"]);
    expect(agent.code).toBe(1);
    expect(agent.stderr).toMatch(/^everruns: .*no agent with id or name "no-such-agent"/);
    const both = await cli(["schedules", "create", "bad", "--agent", "reporter", "--every", "5m", "--cron", "* * * * *"]);
    expect(both.stderr).toBe('everruns: schedules create needs exactly one of --cron "EXPR" and --every 30s|5m|1h|1d\n');
    const every = await cli(["schedules", "create", "bad", "--agent", "reporter", "--every", "5x"]);
    expect(every.stderr).toBe('everruns: --every takes a whole number and s, m, h or d (30s, 5m, 1h, 1d), from 1s to 365d, got "5x"\n');
    const overlap = await cli(["schedules", "create", "bad", "--agent", "reporter", "--every", "5m", "--overlap", "maybe"]);
    expect(overlap.stderr).toBe('everruns: --overlap takes one of skip, buffer_one, allow, cancel_previous, got "maybe"\n');
    // the API's own validation comes through as one line too (a name it refuses)
    const name = await cli(["schedules", "create", "bad name", "--agent", "reporter", "--every", "5m"]);
    expect(name.code).toBe(1);
    expect(name.stderr).toMatch(/^everruns: the API refused it \(HTTP 400\): .*name.*\n$/);
    expect(await count("everruns.schedules")).toBe(before);
    expect((await cli(["schedules", "frobnicate"])).stderr).toMatch(/^everruns: unknown schedules command "frobnicate"/);
    expect((await cli(["schedules"])).code).toBe(2);
  }, 60_000);
});

describe("everruns webhooks", () => {
  let url: string;
  let secret: string;

  it("create prints the URL and how to set its secret; the printed command sets it", async () => {
    const created = await ok(["webhooks", "create", "deploys", "--agent", "hook-agent", "--secret", "deploys_secret", "--dedupe-pointer", "/id"]);
    url = created.stdout.trim();
    const { rows } = await db.pool.query<{ id: string; verify: string; dedupe_pointer: string }>(
      "select id, verify, dedupe_pointer from everruns.webhooks where name = 'deploys'",
    );
    expect(rows[0]).toMatchObject({ verify: "standard", dedupe_pointer: "/id" });
    expect(url).toBe(`${api.url}/hooks/${rows[0]!.id}`);
    expect(url).toBe(hookUrl(api.url, rows[0]!.id));
    expect(created.stderr).toContain(`created webhook deploys (standard) for agent hook-agent: senders POST to ${url}`);
    expect(created.stderr).toMatch(/warning: secret deploys_secret is not set yet/);
    const command = /^ {2}echo -n '?(whsec_[A-Za-z0-9+/=]+)'? \| everruns secrets set deploys_secret$/m.exec(created.stderr);
    expect(command, created.stderr).not.toBeNull();
    secret = command![1]!;
    await ok(["secrets", "set", "deploys_secret"], secret);
    const shown = await ok(["webhooks", "show", "deploys"]);
    expect(shown.stdout).toMatch(new RegExp(`url\\s+${url.replaceAll(".", "\\.")}`));
    expect(shown.stdout).toMatch(/dedupe by\s+\/id/);
    expect(shown.stderr).toBe(""); // no warning once the secret is set
    expect(shown.stdout).toContain("none yet (everruns webhooks test deploys sends one)");
    const listed = await ok(["webhooks", "list"]);
    expect(listed.stdout).toMatch(new RegExp(`deploys\\s+standard\\s+deploys_secret\\s+enabled\\s+${url.replaceAll(".", "\\.")}`));
    // --generate-secret for another scheme: a hex value suggested
    const gh = await ok(["webhooks", "create", "gh", "--agent", "hook-agent", "--verify", "github", "--secret", "gh_secret", "--generate-secret"]);
    expect(gh.stderr).toMatch(/^ {2}echo -n [0-9a-f]{64} \| everruns secrets set gh_secret$/m);
    // a secret set already is left alone: no new value suggested
    const again = await ok(["webhooks", "create", "deploys-2", "--agent", "hook-agent", "--secret", "deploys_secret"]);
    expect(again.stderr).not.toMatch(/warning|echo -n/);
    expect(again.stderr).toContain("the secret deploys_secret is set already");
    await ok(["webhooks", "delete", "deploys-2"]);
  }, 30_000);

  it("test sends a signed test delivery: its run id, recorded as a test; the same payload again is a duplicate", async () => {
    const sent = await ok(["webhooks", "test", "deploys", "--payload", '{"id": "deploy-1", "service": "billing"}']);
    const runId = sent.stdout.trim();
    expect(runId).toMatch(UUID);
    expect(sent.stderr).toMatch(/^test delivery [0-9a-f-]{36} accepted: run /);
    const { rows } = await db.pool.query<{ run_id: string; test: boolean; delivery_key: string }>(
      "select d.run_id, d.test, d.delivery_key from everruns.webhook_deliveries d join everruns.webhooks w on w.id = d.webhook_id where w.name = 'deploys'",
    );
    expect(rows).toEqual([{ run_id: runId, test: true, delivery_key: "deploy-1" }]);
    const again = await ok(["webhooks", "test", "deploys", "--payload", '{"id": "deploy-1", "service": "billing"}']);
    expect(again.stdout.trim()).toBe(runId);
    expect(again.stderr).toMatch(/was a duplicate of an earlier one: its run /);
    const deliveries = await ok(["webhooks", "deliveries", "deploys"]);
    expect(deliveries.stdout).toMatch(new RegExp(`deploy-1\\s+${runId}\\s+\\S+.*\\s+1\\s+test`));
  }, 30_000);

  it("a sender signing with the secret set through the CLI reaches the printed URL", async () => {
    const body = JSON.stringify({ id: "deploy-2", service: "search" });
    const sentAt = new Date();
    const signature = new Webhook(secret).sign("msg_cli_1", sentAt, body);
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": "msg_cli_1",
        "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
        "webhook-signature": signature,
      },
      body,
    });
    const answer = (await res.json()) as { run_id: string };
    expect(res.status, JSON.stringify(answer)).toBe(202);
    const shown = await ok(["webhooks", "show", "deploys"]);
    expect(shown.stdout).toContain(answer.run_id);
  }, 30_000);

  it("update disables and enables it; a disabled webhook's test is refused", async () => {
    expect((await ok(["webhooks", "update", "deploys", "--disable"])).stdout).toBe("updated webhook deploys (disabled)\n");
    const refused = await cli(["webhooks", "test", "deploys"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^everruns: the API refused it \(HTTP 409\): webhook deploys is disabled/);
    expect((await ok(["webhooks", "update", "deploys", "--enable", "--thread-key-pointer", "/service"])).stdout).toBe("updated webhook deploys (enabled)\n");
    expect((await db.pool.query("select enabled, thread_key_pointer from everruns.webhooks where name = 'deploys'")).rows[0]).toEqual({
      enabled: true,
      thread_key_pointer: "/service",
    });
    const template = path.join(dir, "template.json");
    writeFileSync(template, JSON.stringify({ messages: [{ role: "user", content: "deploy of {{/service}}" }] }));
    await ok(["webhooks", "update", "deploys", "--template", template, "--dedupe-pointer", ""]);
    expect((await db.pool.query("select input_template, dedupe_pointer from everruns.webhooks where name = 'deploys'")).rows[0]).toEqual({
      input_template: { messages: [{ role: "user", content: "deploy of {{/service}}" }] },
      dedupe_pointer: null,
    });
  }, 30_000);

  it("errors: hmac without a header, an unknown webhook, a bad pointer", async () => {
    const hmac = await cli(["webhooks", "create", "h", "--agent", "hook-agent", "--verify", "hmac", "--secret", "s"]);
    expect(hmac).toMatchObject({
      code: 1,
      stderr: "everruns: --verify hmac needs --header H: the request header that carries the signature (e.g. X-Signature)\n",
    });
    const noSecret = await cli(["webhooks", "create", "h", "--agent", "hook-agent"]);
    expect(noSecret.stderr).toMatch(/^everruns: webhooks create needs --secret NAME/);
    const unknown = await cli(["webhooks", "deliveries", "nope"]);
    expect(unknown.stderr).toBe('everruns: no webhook named "nope" in this workspace (everruns webhooks list shows them)\n');
    const pointer = await cli(["webhooks", "create", "h", "--agent", "hook-agent", "--secret", "s", "--dedupe-pointer", "id"]);
    expect(pointer.stderr).toMatch(/^everruns: --dedupe-pointer takes a JSON pointer/);
    expect(await count("everruns.webhooks where name = 'h'")).toBe(0);
  }, 30_000);

  it("delete removes it", async () => {
    expect((await ok(["webhooks", "delete", "gh"])).stdout).toBe("deleted webhook gh\n");
    expect(await count("everruns.webhooks where name = 'gh'")).toBe(0);
  }, 30_000);
});

describe("everruns trigger and notify", () => {
  let endpointId: string;

  it("notify create prints the id; list and show it", async () => {
    const created = await ok([
      "notify",
      "create",
      "ops",
      "--url",
      "http://127.0.0.1:9/hook",
      "--events",
      "run.succeeded,run.failed",
      "--agent",
      "monitor",
      "--secret",
      "ops_secret",
      "--retry-initial-seconds",
      "30",
    ]);
    endpointId = created.stdout.trim();
    expect(endpointId).toMatch(UUID);
    expect(created.stderr).toContain("created notification endpoint ops: run.succeeded, run.failed → http://127.0.0.1:9/hook");
    expect(created.stderr).toMatch(/warning: secret ops_secret is not set yet/);
    expect(created.stderr).toMatch(/echo -n '?whsec_\S+'? \| everruns secrets set ops_secret/);
    const listed = await ok(["notify", "list"]);
    expect(listed.stdout).toMatch(
      new RegExp(`${endpointId}\\s+ops\\s+http://127\\.0\\.0\\.1:9/hook\\s+run\\.succeeded,run\\.failed\\s+[0-9a-f-]{36}\\s+ops_secret\\s+enabled`),
    );
    const shown = JSON.parse((await ok(["notify", "show", "ops", "--json"])).stdout) as { retry_initial_seconds: number };
    expect(shown.retry_initial_seconds).toBe(30);
  }, 30_000);

  it("trigger on one thread key twice: two runs on one thread, in order; --follow; stdin", async () => {
    const first = await ok(["trigger", "monitor", "--thread-key", "svc-billing", "--payload", '{"alert": "cpu high"}']);
    const second = await ok(["trigger", "monitor", "--thread-key", "svc-billing", "--payload", '{"alert": "cpu normal"}']);
    const [a, b] = [first.stdout.trim(), second.stdout.trim()];
    expect(a).toMatch(UUID);
    expect(b).toMatch(UUID);
    expect(a).not.toBe(b);
    await waitFor("both runs succeeded", async () => (await count("everruns.runs where id = any($1) and status = 'succeeded'", [[a, b]])) === 2, 20_000, 100);
    const { rows } = await db.pool.query<{ id: string; thread_id: string; key: string }>(
      "select r.id, r.thread_id, t.key from everruns.runs r join everruns.threads t on t.id = r.thread_id where r.id = any($1) order by r.created_at",
      [[a, b]],
    );
    expect(rows.map((r) => r.id)).toEqual([a, b]);
    expect(rows[0]!.thread_id).toBe(rows[1]!.thread_id);
    expect(rows[0]!.key).toBe("svc-billing");
    // --follow streams a third event's run on that thread to its end
    const followed = await cli(["trigger", "monitor", "--thread-key", "svc-billing", "--payload", '{"alert": "disk"}', "--follow"]);
    expect(followed.stdout).toContain("handled");
    expect(followed.stderr).toMatch(/run succeeded\n$/);
    expect(followed.code).toBe(0);
    // the payload from stdin
    const piped = await ok(["trigger", "monitor", "-"], '{"alert": "from stdin"}');
    expect(piped.stdout.trim()).toMatch(UUID);
  }, 60_000);

  it("notify deliveries lists the runs' notifications; resend makes one pending again", async () => {
    await waitFor("3 notifications", async () => (await count("everruns.notification_deliveries where endpoint_id = $1", [endpointId])) >= 3, 20_000, 100);
    const listed = await ok(["notify", "deliveries", "--endpoint", "ops", "--limit", "100"]);
    const ids = [...listed.stdout.matchAll(UUID_IN_TEXT)].map((m) => m[0]);
    const { rows } = await db.pool.query<{ id: string }>("select id from everruns.notification_deliveries where endpoint_id = $1", [endpointId]);
    for (const { id } of rows) expect(ids).toContain(id);
    expect(listed.stdout).toMatch(/run\.succeeded/);
    const json = JSON.parse((await ok(["notify", "deliveries", "--json"])).stdout) as Array<{ id: string; attempt_log: unknown[] }>;
    expect(json.length).toBe(rows.length);
    const resent = await ok(["notify", "resend", rows[0]!.id]);
    expect(resent.stdout).toBe(`notification delivery ${rows[0]!.id} is pending again: it is sent at once, then retried with backoff for a day\n`);
    const bad = await cli(["notify", "resend", "00000000-0000-0000-0000-000000000009"]);
    expect(bad.stderr).toMatch(/^everruns: unknown notification delivery 00000000-0000-0000-0000-000000000009/);
  }, 60_000);

  it("notify update and delete; errors are one line", async () => {
    expect((await ok(["notify", "update", "ops", "--disable", "--all-agents"])).stdout).toBe("updated notification endpoint ops (disabled)\n");
    expect((await db.pool.query("select enabled, agent_id from everruns.notification_endpoints where id = $1", [endpointId])).rows[0]).toEqual({
      enabled: false,
      agent_id: null,
    });
    const events = await cli(["notify", "create", "x", "--url", "http://127.0.0.1:9/", "--events", "run.exploded", "--secret", "s"]);
    expect(events.stderr).toMatch(/^everruns: --events takes a comma-separated list of run\.succeeded, .*; unknown: run\.exploded\n$/);
    const url = await cli(["notify", "create", "x", "--url", "ftp://host/", "--events", "run.failed", "--secret", "s"]);
    expect(url.stderr).toBe('everruns: --url takes an http(s) URL, got "ftp://host/"\n');
    expect((await ok(["notify", "delete", "ops"])).stdout).toBe("deleted notification endpoint ops\n");
    expect(await count("everruns.notification_endpoints")).toBe(0);
  }, 30_000);

  it("trigger errors: an unknown agent, bad JSON, two payloads", async () => {
    const before = await count("everruns.runs");
    const unknown = await cli(["trigger", "no-such-agent", "--payload", "{}"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^everruns: .*no-such-agent/);
    const json = await cli(["trigger", "monitor", "--payload", "{nope"]);
    expect(json.stderr).toMatch(/^everruns: --payload must be JSON: /);
    const two = await cli(["trigger", "monitor", "--payload", "{}", "-"]);
    expect(two.stderr).toBe("everruns: give one of --payload JSON, --payload-file F and - (stdin)\n");
    const key = await cli(["trigger", "monitor", "--thread-key", "has space"]);
    expect(key.code).toBe(1);
    expect(key.stderr).toMatch(/^everruns: the API refused it \(HTTP 400\): .*thread_key/);
    expect(await count("everruns.runs")).toBe(before);
  }, 30_000);
});

describe("helpers", () => {
  it("--every, zoned times, the hook URL and a schedule's upcoming fires", () => {
    expect(["30s", "5m", "1h", "1d"].map(everySeconds)).toEqual([30, 300, 3600, 86_400]);
    expect(() => everySeconds("366d")).toThrow(/from 1s to 365d/);
    expect(() => everySeconds("0s")).toThrow(/from 1s to 365d/);
    // the spring-forward day in Berlin: 02:30 fires at the transition, 03:00 CEST (01:00Z)
    expect(zonedTime(new Date("2026-03-29T01:00:00Z"), "Europe/Berlin")).toBe("2026-03-29 03:00:00 UTC+2");
    expect(zonedTime(new Date("2026-01-05T08:00:00Z"), "America/New_York")).toBe("2026-01-05 03:00:00 UTC-5");
    expect(zonedTime(new Date("2026-01-05T08:00:00Z"), "UTC")).toBe("2026-01-05 08:00:00 UTC");
    expect(zonedTime(new Date("2026-01-05T08:00:00Z"), "Asia/Kolkata")).toBe("2026-01-05 13:30:00 UTC+5:30");
    expect(
      unsetSecretNames(["a", "a.b", "c"], ["secrets a.b, c are not set yet: deliveries are refused (503) until you set them (everruns secrets set)"]),
    ).toEqual(["a.b", "c"]);
    expect(unsetSecretNames(["s"], [])).toEqual([]);
    expect(hookUrl("http://api.example/", "abc")).toBe("http://api.example/hooks/abc");
    const base = { id: "s", name: "s", timezone: "UTC", paused: false, created_at: new Date("2026-01-01T00:00:00Z") };
    const now = new Date("2026-01-01T00:00:10.500Z");
    expect(upcomingFires({ ...base, interval_seconds: 30 }, 2, now).map((d) => d.toISOString())).toEqual([
      "2026-01-01T00:00:30.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
    // a stored next fire later than now wins (the ticker never goes back)
    expect(upcomingFires({ ...base, cron: "0 * * * *", next_fire_at: new Date("2026-01-01T05:00:00Z") }, 1, now)).toEqual([new Date("2026-01-01T05:00:00Z")]);
    expect(upcomingFires({ ...base, cron: "0 * * * *", paused: true }, 3, now)).toEqual([]);
  });

  it("every command's --help prints its usage", async () => {
    for (const command of ["schedules", "webhooks", "notify", "trigger"]) {
      const help = await cli([command, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`everruns ${command}`);
    }
  });
});
