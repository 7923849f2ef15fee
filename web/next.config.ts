// The console is built and served from web/ with the project root's node_modules; turbopack.root
// says so explicitly (Next would otherwise guess from lockfiles).
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NextConfig } from "next";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  turbopack: { root },
};

export default config;
