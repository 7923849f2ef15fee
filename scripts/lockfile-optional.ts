// The npm registry mirror these machines use lacks some platform builds of optional native
// packages (e.g. @tailwindcss/oxide-darwin-arm64, @next/swc-win32-x64-msvc). `npm install` then
// leaves them out of package-lock.json, and `npm ci` refuses that lockfile ("Missing: … from
// lock file"). This adds an entry for each missing optional dependency, with the os/cpu its
// name states, so `npm ci` skips it on other platforms as it would with a complete lockfile.
// Run after changing dependencies: node scripts/lockfile-optional.ts
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "./database.ts";

const OSES = ["android", "darwin", "freebsd", "linux", "win32", "openbsd", "netbsd", "sunos", "aix"];
const CPUS = ["arm64", "x64", "ia32", "arm", "wasm32", "ppc64", "s390x", "riscv64", "loong64", "mips64el"];

type Entry = { version?: string; optional?: boolean; os?: string[]; cpu?: string[]; optionalDependencies?: Record<string, string> };

const file = path.join(PROJECT_ROOT, "package-lock.json");
const lock = JSON.parse(readFileSync(file, "utf8")) as { packages: Record<string, Entry> };
const added: string[] = [];
for (const [key, meta] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const nested = key ? `${key}/node_modules/${dep}` : `node_modules/${dep}`;
    const top = `node_modules/${dep}`;
    if (lock.packages[nested] || lock.packages[top]) continue;
    const name = `-${dep.split("/").pop()}-`;
    const os = OSES.find((o) => name.includes(`-${o}-`));
    const cpu = CPUS.find((c) => name.includes(`-${c}`));
    lock.packages[top] = { version, optional: true, ...(cpu && { cpu: [cpu] }), ...(os && { os: [os] }) };
    added.push(`${dep}@${version}`);
  }
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(file, `${JSON.stringify({ ...lock, packages: sorted }, null, 2)}\n`);
console.log(added.length ? `added ${added.length} platform entries: ${added.join(", ")}` : "package-lock.json has an entry for every optional dependency");
