// The compile caches every everruns process starts with (scripts/cli/compile-cache.ts): a module's
// stripped text is kept and used by later processes, a changed source is stripped again, stack
// traces keep the source's lines, and a directory others can write to is never used.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, expect, it } from "vitest";
import { PROJECT_ROOT } from "../database.ts";

const run = promisify(execFile);
let dir: string;
let cache: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "compile-cache-test-"));
  cache = path.join(dir, "cache");
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
  // the entry does what scripts/everruns.ts does: caches on, then the program
  fs.writeFileSync(
    path.join(dir, "entry.ts"),
    `import { enableCompileCaches } from ${JSON.stringify(path.join(PROJECT_ROOT, "scripts", "cli", "compile-cache.ts"))};\n` +
      `console.log("cache:", enableCompileCaches() ?? "off");\n` +
      `await import("./program.ts");\n`,
  );
  writeProgram("first");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeProgram(word: string): void {
  fs.writeFileSync(
    path.join(dir, "program.ts"),
    `interface Shape {\n  word: string;\n}\nconst shape: Shape = { word: ${JSON.stringify(word)} as string };\n` +
      `console.log("says:", shape.word);\nif (process.env.THROW) throw new Error("line 6");\n`,
  );
}

async function start(env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const { NODE_DISABLE_COMPILE_CACHE: _, ...inherited } = process.env;
  return run(process.execPath, [path.join(dir, "entry.ts")], { env: { ...inherited, EVERRUNS_COMPILE_CACHE: cache, ...env } }).catch(
    (error: { stdout: string; stderr: string }) => ({ stdout: error.stdout, stderr: error.stderr }),
  );
}

const strippedFiles = () => (fs.existsSync(path.join(cache, "stripped")) ? fs.readdirSync(path.join(cache, "stripped")) : []);

it("keeps each module's stripped text and runs it in later processes, until the source changes", async () => {
  // nothing on stderr: the first strip's ExperimentalWarning would be in every CLI command's answer
  expect(await start()).toEqual({ stdout: `cache: ${cache}\nsays: first\n`, stderr: "" });
  // program.ts (entry.ts loaded before the hook), with the hash of the text it was stripped from
  const files = strippedFiles();
  expect(files).toHaveLength(1);
  const kept = path.join(cache, "stripped", files[0]!);
  const [hash, ...code] = fs.readFileSync(kept, "utf8").split("\n");
  expect(hash).toMatch(/^[0-9a-f]{64}$/);
  expect(code.join("\n")).not.toContain("interface");
  expect(fs.statSync(kept).mode & 0o777).toBe(0o600);
  expect(fs.statSync(cache).mode & 0o777).toBe(0o700);
  expect(fs.readdirSync(path.join(cache, "v8")).length).toBeGreaterThan(0);

  // a later process runs what was kept, not a new strip: change the kept text and see it run
  fs.writeFileSync(kept, [hash, ...code].join("\n").replace('"says:"', '"kept:"'));
  expect((await start()).stdout).toBe(`cache: ${cache}\nkept: first\n`);

  // the source changed: its hash no longer matches, it is stripped again and kept under the same name
  writeProgram("second");
  expect((await start()).stdout).toBe(`cache: ${cache}\nsays: second\n`);
  expect(strippedFiles()).toEqual(files);
});

it("keeps the source's lines and columns: a stack trace names the line of the .ts file", async () => {
  await start();
  const { stderr } = await start({ THROW: "1" });
  expect(stderr).toContain("Error: line 6");
  expect(stderr).toContain(`${path.join(dir, "program.ts")}:6:`);
});

it("never runs code from a directory another user could write to", async () => {
  fs.mkdirSync(cache, { mode: 0o700 });
  fs.chmodSync(cache, 0o777);
  expect((await start()).stdout).toBe("cache: off\nsays: first\n");
  expect(strippedFiles()).toEqual([]);
  // nor a symlink to one (the link is not a directory of ours)
  fs.rmSync(cache, { recursive: true });
  fs.mkdirSync(path.join(dir, "elsewhere"), { mode: 0o700 });
  fs.symlinkSync(path.join(dir, "elsewhere"), cache);
  expect((await start()).stdout).toBe("cache: off\nsays: first\n");
});

it("is off with NODE_DISABLE_COMPILE_CACHE, Node's own switch", async () => {
  expect((await start({ NODE_DISABLE_COMPILE_CACHE: "1" })).stdout).toBe("cache: off\nsays: first\n");
  expect(fs.existsSync(cache)).toBe(false);
});
