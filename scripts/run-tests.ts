// `npm test`: type-check, check the console's generated GraphQL types against the API schema,
// build the console, then the vitest suite, then one closing line `N passed, N failed` that CI
// can read. Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "./database.ts";

// Run the tools on this very Node (22), whatever `node` the PATH would find.
const tool = (...parts: string[]) => path.join(PROJECT_ROOT, "node_modules", ...parts);
const results = path.join(PROJECT_ROOT, "node_modules", ".cache", "vitest-results.json");

const tsc = spawnSync(process.execPath, [tool("typescript", "bin", "tsc"), "-p", PROJECT_ROOT], { stdio: "inherit", cwd: PROJECT_ROOT });
if (tsc.status !== 0) {
  console.log("type check failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

// The console's operations against api/schema.graphql, and web/lib/gql/ up to date (npm run codegen).
const codegen = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "scripts", "codegen-check.ts")], { stdio: "inherit", cwd: PROJECT_ROOT });
if (codegen.status !== 0) {
  console.log("the console's GraphQL operations do not match api/schema.graphql, or web/lib/gql is stale");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

// The console's production build, once, before the tests that serve it (a no-op when current).
const build = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "scripts", "everruns.ts"), "build"], { stdio: "inherit", cwd: PROJECT_ROOT });
if (build.status !== 0) {
  console.log("the console build failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

rmSync(results, { force: true });
const vitest = spawnSync(
  process.execPath,
  [tool("vitest", "vitest.mjs"), "run", "--reporter=default", "--reporter=json", `--outputFile.json=${results}`, ...process.argv.slice(2)],
  { stdio: "inherit", cwd: PROJECT_ROOT },
);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(results)) {
  const report = JSON.parse(readFileSync(results, "utf8")) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
    testResults: Array<{ status: string; message?: string; name: string }>;
  };
  passed = report.numPassedTests;
  failed = report.numFailedTests + report.testResults.filter((f) => f.status === "failed" && f.message).length;
  skipped = report.numPendingTests + report.numTodoTests;
} else {
  failed = 1;
}
const code = vitest.status === 0 && failed === 0 ? 0 : 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code);
