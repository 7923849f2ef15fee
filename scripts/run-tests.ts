// `npm test`: type-check (the server code and the console), lint, check the format, check the
// console's generated GraphQL types against the API schema, build the console, then the vitest
// suite, then one closing line `N passed, N failed` that CI can read. Extra arguments go to vitest
// (e.g. a file filter).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "./database.ts";

// Run the tools on this very Node (22), whatever `node` the PATH would find.
const tool = (...parts: string[]) => path.join(PROJECT_ROOT, "node_modules", ...parts);
const results = path.join(PROJECT_ROOT, "node_modules", ".cache", "vitest-results.json");

/** Runs one check on this Node; stops `npm test` with a closing line CI can read when it fails. */
function check(what: string, args: string[]): void {
  const result = spawnSync(process.execPath, args, { stdio: "inherit", cwd: PROJECT_ROOT });
  if (result.status !== 0) {
    console.log(`${what} failed`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

check("type check", [tool("typescript", "bin", "tsc"), "-p", PROJECT_ROOT]);
check("type check of the console", [tool("typescript", "bin", "tsc"), "-p", path.join(PROJECT_ROOT, "web")]);
check("lint (npx eslint .)", [tool("eslint", "bin", "eslint.js"), "--max-warnings", "0", PROJECT_ROOT]);
check("format check (npm run format fixes it)", [tool("prettier", "bin", "prettier.cjs"), "--check", "--log-level", "warn", PROJECT_ROOT]);

// The console's operations against api/schema.graphql, and web/lib/gql/ up to date (npm run codegen).
check("the console's GraphQL operations against api/schema.graphql (npm run codegen regenerates web/lib/gql)", [
  path.join(PROJECT_ROOT, "scripts", "codegen-check.ts"),
]);

// The console's production build, once, before the tests that serve it (a no-op when current).
check("the console build", [path.join(PROJECT_ROOT, "scripts", "everruns.ts"), "build"]);

rmSync(results, { force: true });
const vitest = spawnSync(
  process.execPath,
  [tool("vitest", "vitest.mjs"), "run", "--reporter=default", "--reporter=json", `--outputFile.json=${results}`, ...process.argv.slice(2)],
  { stdio: "inherit", cwd: PROJECT_ROOT },
);

let passed = 0;
let failed: number;
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
