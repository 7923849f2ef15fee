// Everruns uses graphile-worker only through its public interface (add_job, remove_job,
// force_unlock_workers, complete_jobs, the `jobs` view, WorkerUtils): its private tables are its
// own, and every upgrade of it must not become a correctness review of ours. This fails the build
// when any of our SQL or TypeScript names them.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/database.ts";

const SKIP = new Set(["node_modules", ".git", ".next", ".everruns"]);
const PRIVATE = ["_priv", "ate_"].join(""); // spelled apart so this file does not name it

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(full);
    else if (/\.(sql|ts|tsx|mts|js|mjs)$/.test(entry.name)) yield full;
  }
}

it("no SQL or TypeScript file names graphile-worker's private tables", async () => {
  const offenders: string[] = [];
  for await (const file of sourceFiles(PROJECT_ROOT)) {
    const lines = (await readFile(file, "utf8")).split("\n");
    lines.forEach((line, i) => {
      if (line.includes(PRIVATE)) offenders.push(`${path.relative(PROJECT_ROOT, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  expect(offenders, "use graphile-worker's public interface instead").toEqual([]);
});
