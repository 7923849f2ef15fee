// Two caches that spare an everruns process work Node repeats on every start: about a quarter of a
// worker's spawn → ready (279 → 201 ms here), which is what a restarted worker's runs wait for
// after a crash or a deploy.
//  - Node's compile cache (module.enableCompileCache): V8's code cache of every module.
//  - Our .ts files with their types stripped: Node 22 strips a .ts file's types on every load
//    (module.stripTypeScriptTypes, ~0.1 ms per KB: ~60 ms for what a worker loads). A sync load
//    hook (module.registerHooks) returns the stripped text kept from an earlier start instead.
//    Stripping replaces types with blanks, so lines and columns, and stack traces, are the same.
// One directory per user, EVERRUNS_COMPILE_CACHE or <tmpdir>/everruns-compile-cache-<uid>. What is
// cached there is run as code: a directory another user can write to, or that is not ours, is not
// used. NODE_DISABLE_COMPILE_CACHE=1 (Node's own switch) turns both off. A cache is only ever a
// shortcut: any failure to read or write it falls back to Node's own loading.
import { createHash } from "node:crypto";
import fs from "node:fs";
import module from "node:module";
import os from "node:os";
import path from "node:path";

/** The cache directory this process would use (EVERRUNS_COMPILE_CACHE, else one per user under the tmpdir). */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.EVERRUNS_COMPILE_CACHE || path.join(os.tmpdir(), `everruns-compile-cache-${process.getuid?.() ?? "user"}`);
}

/** Makes `dir` (mode 0700) and says whether it is safe to run code from: ours, a real directory, no one else may write. */
export function privateDirectory(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = fs.lstatSync(dir);
    const uid = process.getuid?.();
    return stat.isDirectory() && (uid === undefined || stat.uid === uid) && (stat.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Turns the caches on for the modules this process loads from now on; returns the directory, or undefined when off. */
export function enableCompileCaches(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  const dir = compileCacheDir(env);
  const stripped = path.join(dir, "stripped");
  if (!privateDirectory(dir) || !privateDirectory(stripped)) return undefined;
  module.enableCompileCache(path.join(dir, "v8"));
  module.registerHooks({
    load(url, context, nextLoad) {
      const loaded = nextLoad(url, context);
      // Node's own answer says which files are TypeScript (never one under node_modules)
      const { format, source } = loaded;
      if (format !== "module-typescript" || source === undefined || source === null) return loaded;
      const text = typeof source === "string" ? source : new TextDecoder().decode(source);
      return { format: "module", source: strippedSource(stripped, url, text), shortCircuit: true };
    },
  });
  return dir;
}

/**
 * `source` with its types stripped, from `dir` when an earlier process stripped this same text
 * (one file per module: the text's hash on the first line, then the stripped text), else stripped
 * now and kept there (written aside, then renamed: a concurrent reader sees the old file or the new).
 */
function strippedSource(dir: string, url: string, source: string): string {
  const hash = createHash("sha256").update(process.version).update("\0").update(source).digest("hex");
  const file = path.join(dir, `${createHash("sha256").update(url).digest("hex").slice(0, 32)}.js`);
  try {
    const kept = fs.readFileSync(file, "utf8");
    if (kept.startsWith(`${hash}\n`)) return kept.slice(hash.length + 1);
  } catch {
    // not kept yet (or unreadable): strip it below
  }
  const code = stripTypes(source);
  const aside = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(aside, `${hash}\n${code}`, { mode: 0o600 });
    fs.renameSync(aside, file);
  } catch {
    fs.rmSync(aside, { force: true });
  }
  return code;
}

/**
 * module.stripTypeScriptTypes, without the ExperimentalWarning it prints on its first call: the
 * same stripping Node 22 does itself, silently, for every .ts file it loads, and a CLI's stderr is
 * its answer (a warning there breaks scripts that read it). Other warnings pass.
 */
function stripTypes(source: string): string {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was below, and called with process
  const emitWarning = process.emitWarning;
  process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes("stripTypeScriptTypes")) return;
    (emitWarning as (warning: string | Error, ...rest: unknown[]) => void).call(process, warning, ...rest);
  };
  try {
    return module.stripTypeScriptTypes(source);
  } finally {
    process.emitWarning = emitWarning;
  }
}
