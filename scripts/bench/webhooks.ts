// `everruns bench --only webhooks` (or `node scripts/bench/webhooks.ts [senders] [per-sender]`):
// receipt-to-answer latency of POST /hooks/:id under load. `senders` concurrent senders (default
// 200) each send `perSender` (default 10) Standard Webhooks deliveries, each a new message, to an
// API on a fresh database with no worker (runs just queue), rate limits off. Measured twice: with
// the per-process cache of the webhook and its opened secrets (api/hooks.ts, 2 s) and without;
// next to baselines at the same concurrency in the same run: GET /healthz (one query) and
// POST /api/runs (one authenticated run insert). Prints p50/p99/max and throughput, and each
// as a ratio of the baselines.
import { randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { createPool } from "../../db/pool.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { ensureAgent } from "../../db/sql/ensureAgent.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { createWebhook } from "../../db/sql/webhooks.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { generateSecretKey, SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { generateSecret } from "../../lib/webhook-signatures.ts";
import { NO_RATE_LIMITS } from "../../api/rate-limit.ts";
import { startApi } from "../../api/server.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { percentile } from "../harness/stats.ts";

export interface WebhooksBenchOptions {
  serverUrl: string;
  senders: number;
  perSender: number;
  log: (line: string) => void;
}

interface Round {
  label: string;
  p50: number;
  p99: number;
  max: number;
  perSecond: number;
  failures: number;
}

/** `senders` loops of `perSender` requests each; the latency of each answer (ms) and the wall time. */
async function load(label: string, senders: number, perSender: number, send: () => Promise<Response>, ok: (status: number) => boolean): Promise<Round> {
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure = "";
  const started = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      for (let i = 0; i < perSender; i++) {
        const t0 = performance.now();
        const res = await send();
        const text = await res.text();
        latencies.push(performance.now() - t0);
        if (!ok(res.status)) {
          failures++;
          firstFailure ||= `${res.status} ${text.slice(0, 200)}`;
        }
      }
    }),
  );
  const wallMs = performance.now() - started;
  if (firstFailure) console.error(`${label}: ${failures} failed, first: ${firstFailure}`);
  return {
    label,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    perSecond: (latencies.length / wallMs) * 1000,
    failures,
  };
}

export async function runWebhooksBench(opts: WebhooksBenchOptions): Promise<Round[]> {
  const { senders, perSender, log } = opts;
  const keyText = generateSecretKey();
  const previous = process.env[SECRET_KEY_ENV];
  process.env[SECRET_KEY_ENV] = keyText;
  try {
    return await withScratchDatabase(opts.serverUrl, "everruns_bench_webhooks", async (url) => {
      const pool = createPool(url, "everruns-bench", 2);
      const secret = generateSecret("standard");
      let hookId: string;
      let apiKey: string;
      try {
        await ensureAgent(pool, "bench-hook-agent", { provider: "scripted", script: [{ text: "ok" }] });
        await setSecret(pool, { name: "bench_hook", value: secret, key: Buffer.from(keyText, "base64") });
        hookId = (await createWebhook(pool, { agent: "bench-hook-agent", name: "bench", secret_names: ["bench_hook"] })).id;
        apiKey = (await createApiKey(pool, { name: "bench", role: "admin", workspaceId: null })).key;
      } finally {
        await pool.end();
      }
      const signer = new Webhook(secret);
      const rounds: Round[] = [];
      for (const [label, cacheMs] of [
        ["hooks, cache 2 s", 2000],
        ["hooks, no cache", 0],
      ] as const) {
        const api = await startApi({
          databaseUrl: url,
          port: 0,
          log: consoleLogger("[bench api]", "warn"),
          rateLimits: NO_RATE_LIMITS,
          hookCacheMs: cacheMs,
          poolSize: 20,
        });
        try {
          const hook = () => {
            const body = JSON.stringify({ id: randomUUID(), at: Date.now() });
            const msgId = `msg_${randomUUID()}`;
            const now = new Date();
            return fetch(`${api.url}/hooks/${hookId}`, {
              method: "POST",
              headers: {
                "content-type": "application/json",
                "webhook-id": msgId,
                "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
                "webhook-signature": signer.sign(msgId, now, body),
              },
              body,
            });
          };
          await load("warm-up", Math.min(senders, 20), 5, hook, (s) => s === 202);
          if (rounds.length === 0) {
            rounds.push(
              await load(
                "GET /healthz",
                senders,
                perSender,
                () => fetch(`${api.url}/healthz`),
                (s) => s === 200,
              ),
            );
            const runBody = JSON.stringify({ agent: "bench-hook-agent", input: { messages: [{ role: "user", content: "hi" }] } });
            rounds.push(
              await load(
                "POST /api/runs",
                senders,
                perSender,
                () =>
                  fetch(`${api.url}/api/runs`, {
                    method: "POST",
                    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
                    body: runBody,
                  }),
                (s) => s === 201 || s === 202,
              ),
            );
          }
          rounds.push(await load(`POST /hooks/:id (${label})`, senders, perSender, hook, (s) => s === 202));
        } finally {
          await api.close();
        }
      }
      const [health, runs] = rounds;
      log(`webhooks: ${senders} concurrent senders x ${perSender} requests each, no worker (runs queue), rate limits off`);
      log(
        `  ${"what".padEnd(34)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"max ms".padStart(8)} ${"req/s".padStart(8)}  p50/p99 vs healthz  p50/p99 vs POST /api/runs  failed`,
      );
      for (const r of rounds) {
        const ratio = (base: Round) => `${(r.p50 / base.p50).toFixed(2)}x / ${(r.p99 / base.p99).toFixed(2)}x`;
        log(
          `  ${r.label.padEnd(34)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.max.toFixed(1).padStart(8)} ${r.perSecond.toFixed(0).padStart(8)}  ${ratio(health!).padEnd(18)}  ${ratio(runs!).padEnd(25)}  ${r.failures}`,
        );
      }
      return rounds;
    });
  } finally {
    if (previous === undefined) delete process.env[SECRET_KEY_ENV];
    else process.env[SECRET_KEY_ENV] = previous;
  }
}

// node scripts/bench/webhooks.ts [senders] [per-sender]: DATABASE_URL names the server
if (import.meta.url === `file://${process.argv[1]}`) {
  const serverUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  await runWebhooksBench({ serverUrl, senders: Number(process.argv[2] ?? 200), perSender: Number(process.argv[3] ?? 10), log: (line) => console.log(line) });
}
