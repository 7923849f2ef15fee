// The operator's models file (EVERRUNS_MODELS_FILE): a JSON table of the same shape as
// lib/models/models.json, read once when a process starts (the API validates agent configs with
// the catalog, the worker prices calls with it) and merged over the built-in table. Node-only
// (fs); the catalog itself stays browser-safe.
import { readFileSync } from "node:fs";
import { ConfigError } from "../../db/errors.ts";
import { PROVIDER_SPECS } from "../../worker/providers/registry.ts";
import { type ModelsTable, parseModelsTable, registerOperatorModels } from "./catalog.ts";

/** The variable naming the file (db/env.ts). */
export const MODELS_FILE_ENV = "EVERRUNS_MODELS_FILE";

/**
 * Reads and checks the file at `path`: JSON, the models table's shape, known providers only (a
 * misspelt provider would otherwise be ignored silently). Throws a ConfigError naming the path.
 */
export function readModelsFile(path: string): ModelsTable {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`${MODELS_FILE_ENV}: cannot read ${path} (${(error as Error).message}); fix the path or unset ${MODELS_FILE_ENV}`, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${MODELS_FILE_ENV}: ${path} is not JSON (${(error as Error).message})`, { cause: error });
  }
  let table: ModelsTable;
  try {
    table = parseModelsTable(value, `${MODELS_FILE_ENV}: ${path}`);
  } catch (error) {
    throw new ConfigError((error as Error).message, { cause: error });
  }
  const known = PROVIDER_SPECS.map((spec) => spec.name as string);
  const unknown = Object.keys(table).filter((provider) => !known.includes(provider));
  if (unknown.length > 0) {
    throw new ConfigError(
      `${MODELS_FILE_ENV}: ${path} names unknown provider(s) ${unknown.map((p) => JSON.stringify(p)).join(", ")}; the providers are ${known.join(", ")}`,
    );
  }
  return table;
}

/**
 * Registers the operator's table when EVERRUNS_MODELS_FILE is set (and clears it when unset), at
 * API and worker start. Returns the path read, for the start-up log.
 */
export function loadOperatorModels(source: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = source[MODELS_FILE_ENV]?.trim() || undefined;
  registerOperatorModels(path === undefined ? undefined : readModelsFile(path));
  return path;
}
