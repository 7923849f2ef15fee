// How the CLI prints rows: an aligned plain-text table for people (no index column, no quotes),
// or JSON for scripts (--json). Dates print as ISO 8601 in UTC.

function cellText(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "string") return value;
  return typeof value === "number" || typeof value === "boolean" || typeof value === "bigint" ? value.toString() : "?";
}

/** Rows as an aligned table: a header of the keys of the first row, two spaces between columns. */
export function formatTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return "";
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((c) => cellText(row[c]).replace(/\s+/g, " ")));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join("\n");
}

/** Prints rows as JSON (--json) or as a table; `empty` when there are none (table only). */
export function printRows(rows: Record<string, unknown>[], json: boolean, empty: string): void {
  if (json) console.log(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) console.log(empty);
  else console.log(formatTable(rows));
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** `text` as one shell word, for the commands the CLI prints to copy. */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
