// The console's Schedules, Webhooks and Notifications pages (issue 16), in a real headless browser
// over real Postgres, a real worker, the real API and the console's production build. A schedule, a
// webhook and a notification endpoint are made through the GraphQL API (an admin key); the
// endpoint is a real HTTP receiver on loopback that answers 200 and records what it gets.
// - /schedules lists the schedule (cron, time zone, state); its page shows the next 10 fire times
//   in Europe/Berlin and UTC (the API's own nextFireTimes), and an operator pauses it with a note
//   (the page, the list and the row in the database say so) and resumes it;
// - /webhooks lists the webhook; its page shows the URL (the console's origin, then the API's once
//   set, which the API answers at), and "send test delivery" shows its run, which appears in the
//   delivery log as a test verified with secret #1, linking to the run, which succeeds;
// - that run's end is a run.succeeded notification: /notifications shows the endpoint and the
//   delivery (delivered, 1 attempt), its attempt log, and Resend sends it again under the same
//   webhook-id (2 attempts, the receiver got it twice);
// - a viewer key sees none of the operator's buttons.
// Screenshots (web/test/screenshots/): schedules-list, schedule-page, schedule-paused, webhooks-list,
// webhook-page, notifications, notification-resent.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { generateSecret } from "../../lib/webhook-signatures.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");

// workspace secrets are sealed with it: the API (webhook verification, the test delivery) and the
// worker (signing notifications) read it from the environment
const secretKey = randomBytes(32);
const savedSecretKey = process.env[SECRET_KEY_ENV];
process.env[SECRET_KEY_ENV] = secretKey.toString("base64");

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let worker: WorkerHandle;
let browser: Browser;
let receiver: http.Server;
const received: Array<{ webhookId: string; body: string }> = [];
const keys = { admin: "", operator: "", viewer: "" };
const ids = { schedule: "", webhook: "", endpoint: "", testRun: "", delivery: "" };

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${keys.admin}` },
    body: JSON.stringify({ query, variables }),
  });
  const answer = (await res.json()) as { data?: T; errors?: unknown[] };
  if (answer.errors) throw new Error(`GraphQL refused: ${JSON.stringify(answer.errors)}`);
  return answer.data!;
}

async function login(key: string): Promise<void> {
  const { page, context } = browser;
  // off the current page first: its polling (a 401 redirecting to /login) must not abort the login's navigation
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
}

async function scheduleRow(): Promise<{ paused: boolean; paused_note: string | null }> {
  const { rows } = await db.pool.query<{ paused: boolean; paused_note: string | null }>("select paused, paused_note from everruns.schedules where id = $1", [
    ids.schedule,
  ]);
  return rows[0]!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ webhookId: String(req.headers["webhook-id"] ?? ""), body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify`;

  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  browser = await launchBrowser();
  keys.admin = (await createApiKey(db.pool, { name: "triggers-admin", role: "admin" })).key;
  keys.operator = (await createApiKey(db.pool, { name: "triggers-operator", role: "operator" })).key;
  keys.viewer = (await createApiKey(db.pool, { name: "triggers-viewer", role: "viewer" })).key;
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] }, "trigger-agent");
  await setSecret(db.pool, { name: "hook-secret", value: generateSecret("standard"), key: secretKey });
  await setSecret(db.pool, { name: "notify-secret", value: generateSecret("standard"), key: secretKey });

  ids.schedule = (
    await gql<{ createSchedule: { scheduleId: string } }>(
      `mutation { createSchedule(name: "daily-report", agent: "trigger-agent", cron: "30 9 * * *", timezone: "Europe/Berlin",
        input: {messages: [{role: "user", content: "report for {{fire_time_local}}"}]}) { scheduleId } }`,
    )
  ).createSchedule.scheduleId;
  ids.webhook = (
    await gql<{ createWebhook: { webhookId: string } }>(
      `mutation { createWebhook(name: "github-push", agent: "trigger-agent", secretNames: ["hook-secret"]) { webhookId } }`,
    )
  ).createWebhook.webhookId;
  ids.endpoint = (
    await gql<{ createNotificationEndpoint: { notificationEndpointId: string } }>(
      `mutation ($url: String!) { createNotificationEndpoint(name: "ops-hook", url: $url, events: ["run.succeeded"], agent: "trigger-agent",
        secretName: "notify-secret", retryInitialSeconds: 0.5) { notificationEndpointId } }`,
      { url: receiverUrl },
    )
  ).createNotificationEndpoint.notificationEndpointId;
  await login(keys.operator);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await web?.close();
  await api?.close();
  await new Promise((resolve) => receiver?.close(resolve));
  await db?.drop();
  if (savedSecretKey === undefined) delete process.env[SECRET_KEY_ENV];
  else process.env[SECRET_KEY_ENV] = savedSecretKey;
});

const text = async (testId: string) => ((await browser.page.getByTestId(testId).first().textContent()) ?? "").trim();

describe("schedules", () => {
  it("the list shows the schedule: its cron expression, time zone, next fire and state", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/schedules`);
    const row = page.locator(`[data-testid=schedules-table] tr[data-schedule-id="${ids.schedule}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-paused")).toBe("false");
    expect(await row.textContent()).toContain("daily-report");
    expect(await row.textContent()).toContain("trigger-agent");
    expect(await row.textContent()).toContain("Europe/Berlin");
    expect(((await row.getByTestId("schedule-row-spec").textContent()) ?? "").trim()).toBe("30 9 * * *");
    expect(((await row.getByTestId("schedule-row-next").textContent()) ?? "").trim()).toMatch(/^in /);
    await screenshot(page, "schedules-list");
  });

  it("its page shows the next 10 fire times in its time zone and in UTC, as the API computes them", async () => {
    const { page } = browser;
    await page.locator(`tr[data-schedule-id="${ids.schedule}"]`).getByTestId("schedule-link").click();
    await page.waitForURL(`${web.url}/schedules/${ids.schedule}`);
    const fires = page.getByTestId("next-fire");
    await expect.poll(() => fires.count()).toBe(10);
    const { schedule } = await gql<{ schedule: { nextFireTimes: string[] } }>(`query ($id: UUID!) { schedule(id: $id) { nextFireTimes(count: 10) } }`, {
      id: ids.schedule,
    });
    const shown = await fires.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-at")));
    expect(shown).toEqual(schedule.nextFireTimes);
    for (let i = 0; i < 10; i++) {
      // 09:30 in Berlin (CET or CEST), 08:30 or 07:30 UTC
      expect(((await fires.nth(i).getByTestId("next-fire-local").textContent()) ?? "").trim()).toMatch(/^\d{4}-\d\d-\d\d 09:30:00 (CET|CEST|GMT\+1|GMT\+2)$/);
      const utc = ((await fires.nth(i).getByTestId("next-fire-utc").textContent()) ?? "").trim();
      expect(utc).toMatch(/^\d{4}-\d\d-\d\d 0[78]:30:00 UTC$/);
      expect(utc).toBe(`${new Date(schedule.nextFireTimes[i]!).toISOString().slice(0, 19).replace("T", " ")} UTC`);
    }
    expect(await text("schedule-spec")).toBe("30 9 * * *");
    expect(await text("schedule-timezone")).toBe("Europe/Berlin");
    expect(await text("schedule-input")).toContain("{{fire_time_local}}");
    await screenshot(page, "schedule-page");
  });

  it("an operator pauses it with a note, then resumes it", async () => {
    const { page } = browser;
    await page.getByTestId("schedule-pause").click();
    await page.getByTestId("schedule-pause-note").fill("upstream API down until Monday");
    await page.getByTestId("schedule-pause-confirm").click();
    await page.locator("[data-testid=schedule-state][data-paused=true]").waitFor();
    expect(await text("schedule-paused-note")).toContain("upstream API down until Monday");
    expect(await page.getByTestId("next-fire").count()).toBe(0);
    expect(await scheduleRow()).toEqual({ paused: true, paused_note: "upstream API down until Monday" });
    await screenshot(page, "schedule-paused");

    // the list says so too, with the note
    await page.goto(`${web.url}/schedules`);
    const row = page.locator(`tr[data-schedule-id="${ids.schedule}"]`);
    await page.locator(`tr[data-schedule-id="${ids.schedule}"][data-paused=true]`).waitFor();
    expect(await row.getByTestId("schedule-row-state").textContent()).toContain("upstream API down until Monday");

    await page.goto(`${web.url}/schedules/${ids.schedule}`);
    await page.getByTestId("schedule-resume").click();
    await page.locator("[data-testid=schedule-state][data-paused=false]").waitFor();
    await expect.poll(() => page.getByTestId("next-fire").count()).toBe(10);
    expect((await scheduleRow()).paused).toBe(false);
    expect(await page.getByTestId("schedule-paused-note").count()).toBe(0);
  });
});

describe("webhooks", () => {
  it("the list shows the webhook: verify, enabled, deliveries of the last day", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/webhooks`);
    const row = page.locator(`[data-testid=webhooks-table] tr[data-webhook-id="${ids.webhook}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-enabled")).toBe("true");
    expect(await row.textContent()).toContain("github-push");
    expect(((await row.getByTestId("webhook-row-verify").textContent()) ?? "").trim()).toBe("standardhook-secret");
    expect(((await row.getByTestId("webhook-row-deliveries").textContent()) ?? "").trim()).toBe("0");
    await screenshot(page, "webhooks-list");
  });

  it("its page shows the URL: the console's origin, then the API's once set, where the API answers", async () => {
    const { page } = browser;
    await page.locator(`tr[data-webhook-id="${ids.webhook}"]`).getByTestId("webhook-link").click();
    await page.waitForURL(`${web.url}/webhooks/${ids.webhook}`);
    await expect.poll(() => text("webhook-url-text")).toBe(`${web.url}/hooks/${ids.webhook}`);
    await page.getByRole("button", { name: "API address…" }).click();
    await page.locator("#webhook-api-origin").fill(`${api.url}/`);
    await page.getByRole("button", { name: "Set", exact: true }).click();
    await expect.poll(() => text("webhook-url-text")).toBe(`${api.url}/hooks/${ids.webhook}`);
    // the URL shown is the webhook's: an unsigned POST is refused as unsigned, not unknown
    const res = await fetch(await text("webhook-url-text"), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    // kept in this browser
    await page.reload();
    await expect.poll(() => text("webhook-url-text")).toBe(`${api.url}/hooks/${ids.webhook}`);
    expect(await text("webhook-verify")).toBe("standard");
  });

  it("an operator sends a test delivery: its run is shown and linked, and the log lists it", async () => {
    const { page } = browser;
    await page.getByTestId("webhook-send-test").click();
    const link = page.getByTestId("webhook-test-run-link");
    await link.waitFor();
    ids.testRun = ((await link.getAttribute("href")) ?? "").replace("/runs/", "");
    const { rows } = await db.pool.query<{ run_id: string; test: boolean; verified_with: number }>(
      "select run_id, test, verified_with from everruns.webhook_deliveries where webhook_id = $1",
      [ids.webhook],
    );
    expect(rows).toEqual([{ run_id: ids.testRun, test: true, verified_with: 0 }]);

    const delivery = page.locator(`[data-testid=deliveries-table] tr[data-test=true]`);
    await delivery.waitFor();
    expect(await delivery.getByTestId("delivery-test").count()).toBe(1);
    expect(((await delivery.getByTestId("delivery-verified").textContent()) ?? "").trim()).toBe("secret #1hook-secret");
    expect(await delivery.getByTestId("delivery-run-link").getAttribute("href")).toBe(`/runs/${ids.testRun}`);
    // the run (the scripted agent answers at once) succeeds: the log shows it on its next read
    await delivery.locator("[data-status=succeeded]").waitFor();
    await screenshot(page, "webhook-page");

    await delivery.getByTestId("delivery-run-link").click();
    await page.waitForURL(`${web.url}/runs/${ids.testRun}`);

    await page.goto(`${web.url}/webhooks`);
    await expect
      .poll(async () => ((await page.locator(`tr[data-webhook-id="${ids.webhook}"]`).getByTestId("webhook-row-deliveries").textContent()) ?? "").trim())
      .toBe("1");
  });
});

describe("notifications", () => {
  it("shows the endpoint and the delivery of the test run's end, its attempt log, and resends it", async () => {
    const { page } = browser;
    // the test delivery's run succeeded: a run.succeeded notification, delivered by the worker
    ids.delivery = await waitFor(
      "the run.succeeded notification to be delivered",
      async () => {
        const { rows } = await db.pool.query<{ id: string }>(
          "select id from everruns.notification_deliveries where subject_id = $1 and event = 'run.succeeded' and status = 'delivered'",
          [ids.testRun],
        );
        return rows[0]?.id ?? null;
      },
      60_000,
      100,
    );
    const webhookId = `msg_${ids.delivery.replaceAll("-", "")}`;
    expect(received.map((r) => r.webhookId)).toEqual([webhookId]);

    await page.goto(`${web.url}/notifications`);
    const endpoint = page.locator(`[data-testid=endpoints-table] tr[data-endpoint-id="${ids.endpoint}"]`);
    await endpoint.waitFor();
    const endpointText = (await endpoint.textContent()) ?? "";
    expect(endpointText).toContain("ops-hook");
    expect(endpointText).toContain("run.succeeded");
    expect(endpointText).toContain("trigger-agent");
    expect(endpointText).toContain("/notify");

    const row = page.locator(`[data-testid=notification-deliveries-table] tr[data-delivery-id="${ids.delivery}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-status")).toBe("delivered");
    expect(((await row.getByTestId("delivery-attempts").textContent()) ?? "").trim()).toBe("1");
    expect(await row.textContent()).toContain("ops-hook");
    expect(await row.textContent()).toContain("HTTP 200");

    await row.click();
    await page.waitForURL(new RegExp(`delivery=${ids.delivery}`));
    const attempts = page.getByTestId("attempt");
    await expect.poll(() => attempts.count()).toBe(1);
    expect(await attempts.first().getAttribute("data-outcome")).toBe("delivered");
    expect(await text("delivery-detail")).toContain(webhookId);
    expect(await text("delivery-payload")).toContain(ids.testRun);
    await screenshot(page, "notifications");

    await page.getByTestId("delivery-resend").click();
    await page.getByTestId("delivery-resent").waitFor();
    // sent again by the worker, under the same webhook-id; the page follows
    await expect.poll(() => received.map((r) => r.webhookId), { timeout: 30_000 }).toEqual([webhookId, webhookId]);
    await expect.poll(() => attempts.count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(async () => ((await row.getByTestId("delivery-attempts").textContent()) ?? "").trim()).toBe("2");
    await page.locator(`tr[data-delivery-id="${ids.delivery}"][data-status=delivered]`).waitFor();
    await screenshot(page, "notification-resent");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });
});

describe("a viewer", () => {
  it("sees no pause, resume, test delivery or resend button", async () => {
    const { page } = browser;
    await login(keys.viewer);
    await page.goto(`${web.url}/schedules/${ids.schedule}`);
    await page.getByTestId("schedule-controls-readonly").waitFor();
    expect(await page.getByTestId("schedule-pause").count()).toBe(0);
    await expect.poll(() => page.getByTestId("next-fire").count()).toBe(10);

    await page.goto(`${web.url}/webhooks/${ids.webhook}`);
    await page.getByTestId("webhook-controls-readonly").waitFor();
    expect(await page.getByTestId("webhook-send-test").count()).toBe(0);
    await page.locator("[data-testid=deliveries-table] tr[data-test=true]").waitFor();

    await page.goto(`${web.url}/notifications?delivery=${ids.delivery}`);
    await page.getByTestId("delivery-resend-readonly").waitFor();
    expect(await page.getByTestId("delivery-resend").count()).toBe(0);
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });
});
