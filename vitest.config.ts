import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "db/test/**/*.test.ts",
      "worker/test/**/*.test.ts",
      "api/test/**/*.test.ts",
      "scripts/test/**/*.test.ts",
      "web/test/**/*.test.ts",
      "lib/test/**/*.test.ts",
    ],
    globalSetup: ["db/test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // expect.poll waits for what a page or a process shows; vitest's 1 s default is shorter than
    // a page load plus a GraphQL round trip on 2 loaded cores (a wait, never a time bound)
    expect: { poll: { timeout: 15_000 } },
    // 2 cores: the crash tests run several worker processes of their own.
    pool: "forks",
    maxWorkers: 2,
    // The fake servers tests talk to listen on loopback, which the egress guard refuses unless
    // listed; the test key variables are ones an agent's api_key_env may name. Spawned worker
    // processes inherit both (lib/egress/config.ts, README "Configuration").
    //
    // Rate limits far above the defaults: the load, chaos and perf tests (2,000 SSE clients on
    // one key) send thousands of requests a minute from one key and one address. The limiter
    // still runs (its Postgres windows) in every API test; api/test/rate-limit.test.ts runs the
    // real defaults (db/env.ts).
    //
    // Two test files at a time each start workers and APIs on the one shared server: the
    // connection budget's reserve for other clients is left to db/test/connection-budget.test.ts
    // and the CLI test that asks for more than the server has.
    env: {
      EVERRUNS_DB_RESERVED_CONNECTIONS: "0",
      EVERRUNS_RATE_LIMIT_PER_MINUTE: "10000000",
      EVERRUNS_RATE_LIMIT_BURST: "10000000",
      EVERRUNS_AUTH_FAILURES_PER_MINUTE: "100000",
      EVERRUNS_EGRESS_ALLOW: "127.0.0.1,::1,localhost",
      EVERRUNS_PROVIDER_KEY_ENVS: "EVERRUNS_TEST_OPENAI_KEY,EVERRUNS_TEST_ANTHROPIC_KEY,EVERRUNS_TEST_UNSET_KEY,EVERRUNS_NO_SUCH_KEY",
    },
  },
});
