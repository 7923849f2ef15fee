#!/usr/bin/env node
// The everruns command (scripts/everruns-cli.ts), loaded with the compile caches on
// (scripts/cli/compile-cache.ts): a quarter of a worker's start, which runs wait for after a crash.
import { enableCompileCaches } from "./cli/compile-cache.ts";

enableCompileCaches();
await import("./everruns-cli.ts");
