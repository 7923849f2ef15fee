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
  },
});
