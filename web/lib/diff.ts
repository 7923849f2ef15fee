// A line diff (longest common subsequence) for comparing two agent configs. Configs are small
// (tens to hundreds of lines): the O(n·m) table is fine and keeps the output minimal.

export type DiffLine = { op: "same" | "add" | "del"; text: string; a?: number; b?: number };

export function diffLines(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  // trim the common head and tail first: most edits touch a few lines
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const n = am.length;
  const m = bm.length;
  // lcs[i][j]: length of the LCS of am[i..] and bm[j..]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = am[i] === bm[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  for (let k = 0; k < head; k++) out.push({ op: "same", text: a[k]!, a: k + 1, b: k + 1 });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && am[i] === bm[j]) {
      out.push({ op: "same", text: am[i]!, a: head + i + 1, b: head + j + 1 });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push({ op: "del", text: am[i]!, a: head + i + 1 });
      i++;
    } else {
      out.push({ op: "add", text: bm[j]!, b: head + j + 1 });
      j++;
    }
  }
  for (let k = 0; k < tail; k++) {
    const ai = a.length - tail + k;
    const bi = b.length - tail + k;
    out.push({ op: "same", text: a[ai]!, a: ai + 1, b: bi + 1 });
  }
  return out;
}

/** Hunks for display: changed lines with `context` unchanged lines around them; null = a gap. */
export function withContext(lines: DiffLine[], context = 3): Array<DiffLine | null> {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((line, idx) => {
    if (line.op === "same") return;
    for (let k = Math.max(0, idx - context); k <= Math.min(lines.length - 1, idx + context); k++) keep[k] = true;
  });
  const out: Array<DiffLine | null> = [];
  let gap = false;
  lines.forEach((line, idx) => {
    if (keep[idx]) {
      if (gap && out.length > 0) out.push(null);
      gap = false;
      out.push(line);
    } else gap = true;
  });
  if (gap && out.length > 0) out.push(null);
  return out;
}
