// `everruns prices list|set|delete` (scripts/prices-command.ts) against a test database: a round
// trip in the default workspace and in another one (--workspace), and the refusals that name what
// is wrong.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnv } from "../../db/env.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { pricesCommand } from "../prices-command.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe("everruns prices", () => {
  it("set, list (table and --json), set again (replaces), delete: a round trip per workspace", async () => {
    const env = loadEnv({ DATABASE_URL: db.url });
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l) };
    const other = await createWorkspace(db.pool, "prices-cli-other");

    expect(await pricesCommand(["list"], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("no model prices: the price table in code applies");

    const set = [
      "set",
      "--provider",
      "anthropic",
      "--model",
      "claude-sonnet-4",
      "--input",
      "3",
      "--output",
      "15",
      "--cache-read",
      "0.3",
      "--cache-write",
      "3.75",
    ];
    expect(await pricesCommand(set, env, io)).toBe(0);
    expect(lines.at(-1)).toBe("set price of anthropic claude-sonnet-4: input 3, output 15, cache read 0.3, cache write 3.75 USD per million tokens");
    expect(await pricesCommand(["set", "--provider", "openai", "--model", "", "--input", "1", "--output", "2", "--workspace", other.name], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("set price of openai (all models) in workspace prices-cli-other: input 1, output 2 USD per million tokens");

    expect(await pricesCommand(["list"], env, io)).toBe(0);
    const table = lines.at(-1)!.split("\n");
    expect(table[0]).toMatch(/^PROVIDER\s+MODEL\s+INPUT\s+OUTPUT\s+CACHE_READ\s+CACHE_WRITE\s+UPDATED/);
    expect(table.slice(1).map((l) => l.split(/\s+/).slice(0, 6))).toEqual([["anthropic", "claude-sonnet-4", "3", "15", "0.3", "3.75"]]);

    expect(await pricesCommand(["list", "--json", "--workspace", other.name], env, io)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toEqual([
      expect.objectContaining({
        provider: "openai",
        model: "",
        inputPerMillion: 1,
        outputPerMillion: 2,
        cacheReadPerMillion: null,
        cacheWritePerMillion: null,
      }),
    ]);

    // a set again replaces the rates (a cache rate left out is the input rate again)
    expect(await pricesCommand(["set", "--provider", "anthropic", "--model", "claude-sonnet-4", "--input", "2", "--output", "10"], env, io)).toBe(0);
    const { rows } = await db.pool.query(
      "select input_per_million, output_per_million, cache_read_per_million, cache_write_per_million, updated_at > created_at as updated from everruns.model_prices where provider = 'anthropic'",
    );
    expect(rows).toEqual([{ input_per_million: 2, output_per_million: 10, cache_read_per_million: null, cache_write_per_million: null, updated: true }]);

    expect(await pricesCommand(["delete", "--provider", "anthropic", "--model", "claude-sonnet-4"], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("deleted price of anthropic claude-sonnet-4");
    expect(await pricesCommand(["delete", "--provider", "anthropic", "--model", "claude-sonnet-4"], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("there is no price of anthropic claude-sonnet-4");
    // the other workspace's price is its own
    expect(await pricesCommand(["delete", "--provider", "openai", "--model", ""], env, io)).toBe(0);
    expect(lines.at(-1)).toBe("there is no price of openai (all models)");
    expect((await db.pool.query("select count(*)::int as n from everruns.model_prices where workspace_id = $1", [other.id])).rows[0]).toEqual({ n: 1 });
    // every change audited in its workspace
    const audit = await db.pool.query<{ action: string }>("select action from everruns.audit_log where target_type = 'model_price' order by id");
    expect(audit.rows.map((r) => r.action)).toEqual(["model_price.set", "model_price.set", "model_price.set", "model_price.deleted"]);
  });

  it("refuses what it cannot do, naming the flag", async () => {
    const env = loadEnv({ DATABASE_URL: db.url });
    const io = { out: () => undefined };
    await expect(pricesCommand(["set", "--provider", "openai", "--model", "m", "--input", "1"], env, io)).rejects.toThrow(/--output is missing/);
    await expect(pricesCommand(["set", "--provider", "openai", "--model", "m", "--input", "cheap", "--output", "1"], env, io)).rejects.toThrow(
      /--input takes USD per million tokens/,
    );
    await expect(pricesCommand(["set", "--provider", "openia", "--model", "m", "--input", "1", "--output", "1"], env, io)).rejects.toThrow(
      /provider must be one of openai, anthropic, scripted/,
    );
    await expect(pricesCommand(["set", "--provider", "openai", "--model", "m", "--input=-1", "--output", "1"], env, io)).rejects.toThrow(
      /--input takes USD per million tokens \(a number, e\.g\. 3 or 0\.3\), got "-1"/,
    );
    await expect(pricesCommand(["set", "--provider", "openai", "--model", "m", "--input", "0x10", "--output", "1"], env, io)).rejects.toThrow(
      /--input takes USD per million tokens .*got "0x10"/,
    );
    await expect(pricesCommand(["delete", "--provider", "openai", "--model", "a b"], env, io)).rejects.toThrow(/--model: a model prefix holds no spaces/);
    await expect(pricesCommand(["delete", "--provider", "openai"], env, io)).rejects.toThrow(/--model is missing/);
    await expect(pricesCommand(["list", "--input", "1"], env, io)).rejects.toThrow(/--input is only for everruns prices set/);
    await expect(pricesCommand(["list", "--workspace", "nowhere"], env, io)).rejects.toThrow(/nowhere/);
    await expect(pricesCommand(["raise"], env, io)).rejects.toThrow(/unknown prices command "raise"/);
    const lines: string[] = [];
    expect(await pricesCommand(["--help"], env, { out: (l) => lines.push(l) })).toBe(0);
    expect(lines[0]).toMatch(/^Usage:\n {2}everruns prices list/);
  });
});
