import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["db/test/**/*.test.ts", "worker/test/**/*.test.ts", "api/test/**/*.test.ts", "scripts/test/**/*.test.ts", "web/test/**/*.test.ts"],
    globalSetup: ["db/test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // 2 cores: the crash tests run several worker processes of their own.
    pool: "forks",
    maxWorkers: 2,
    // The fake servers tests talk to listen on loopback, which the egress guard refuses unless
    // listed; the test key variables are ones an agent's api_key_env may name. Spawned worker
    // processes inherit both (worker/egress/config.ts, README "Configuration").
    env: {
      EVERRUNS_EGRESS_ALLOW: "127.0.0.1,::1,localhost",
      EVERRUNS_PROVIDER_KEY_ENVS: "EVERRUNS_TEST_OPENAI_KEY,EVERRUNS_TEST_ANTHROPIC_KEY,EVERRUNS_TEST_UNSET_KEY,EVERRUNS_NO_SUCH_KEY",
    },
  },
});
