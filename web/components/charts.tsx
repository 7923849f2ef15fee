"use client";
// Charts drawn as SVG by hand (no chart package): bars (optionally stacked) and lines over a
// sequence of buckets, with nice y ticks, sparse x labels, a legend and a hover read-out. A chart
// given `onBucketClick` opens what is behind a bucket (the dashboard: the runs list, filtered).
import { useEffect, useRef, useState, type ReactNode } from "react";

export interface Series {
  name: string;
  color: string;
  values: Array<number | null>;
  kind?: "bar" | "line";
  /** dashed line */
  dashed?: boolean;
}

function useWidth<T extends HTMLElement>(): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** 0, and up to ~4 round steps (1, 2, 2.5, 5 × 10^k) that cover max. */
export function niceTicks(max: number, count = 4): number[] {
  if (!Number.isFinite(max) || max <= 0) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks.length < 2) ticks.push(step);
  return ticks;
}

export function BucketChart({
  labels,
  tooltipLabels,
  series,
  stacked = false,
  height = 180,
  yFormat = (v) => String(v),
  empty = "No data in this window",
  legend = true,
  testId,
  onBucketClick,
  clickHint,
}: {
  /** one per bucket: the x axis label */
  labels: string[];
  /** one per bucket: the hover title (defaults to labels) */
  tooltipLabels?: string[];
  series: Series[];
  stacked?: boolean;
  height?: number;
  yFormat?: (v: number) => string;
  empty?: ReactNode;
  legend?: boolean;
  testId?: string;
  /** A click on bucket `index`; `series`: the bar segment clicked (null: elsewhere in the bucket). */
  onBucketClick?: (index: number, series: string | null) => void;
  /** What a click opens, shown under the hover read-out. */
  clickHint?: string;
}) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const [hover, setHover] = useState<number | null>(null);
  const n = labels.length;
  const m = { left: 46, right: 10, top: 8, bottom: 22 };
  const plotW = Math.max(10, width - m.left - m.right);
  const plotH = height - m.top - m.bottom;
  const bars = series.filter((s) => (s.kind ?? "bar") === "bar");
  const lines = series.filter((s) => s.kind === "line");

  let max = 0;
  for (let i = 0; i < n; i++) {
    if (stacked)
      max = Math.max(
        max,
        bars.reduce((sum, s) => sum + (s.values[i] ?? 0), 0),
      );
    else for (const s of bars) max = Math.max(max, s.values[i] ?? 0);
    for (const s of lines) max = Math.max(max, s.values[i] ?? 0);
  }
  const ticks = niceTicks(max);
  const top = ticks.at(-1)!;
  const y = (v: number) => m.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(1, n);
  const cx = (i: number) => m.left + slot * (i + 0.5);
  const hasData = max > 0;
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(plotW / 70))));
  const barW = stacked || bars.length <= 1 ? Math.max(1, slot * 0.7) : Math.max(1, (slot * 0.8) / bars.length);

  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const i = Math.floor((e.clientX - rect.left - m.left) / slot);
    setHover(i >= 0 && i < n ? i : null);
  };

  return (
    <div data-testid={testId} className="relative">
      <div className={`mb-1.5 flex flex-wrap gap-x-3 gap-y-1 text-[11px] text-slate-600 ${legend ? "" : "hidden"}`}>
        {series.map((s) => (
          <span key={s.name} className="inline-flex items-center gap-1">
            <span className="inline-block h-2 w-2.5 rounded-sm" style={{ background: s.color, opacity: s.dashed ? 0.6 : 1 }} />
            {s.name}
          </span>
        ))}
      </div>
      <div ref={ref} className="relative" style={{ height }}>
        {width > 0 && (
          <svg
            width={width}
            height={height}
            className="block overflow-visible"
            onMouseMove={onMove}
            onMouseLeave={() => setHover(null)}
            onClick={
              onBucketClick &&
              ((e) => {
                const rect = e.currentTarget.getBoundingClientRect();
                const i = Math.floor((e.clientX - rect.left - m.left) / slot);
                if (i < 0 || i >= n) return;
                onBucketClick(i, (e.target as Element).getAttribute("data-series"));
              })
            }
            style={onBucketClick ? { cursor: "pointer" } : undefined}
            role="img"
            aria-label={series.map((s) => s.name).join(", ")}
          >
            {ticks.map((t) => (
              <g key={t}>
                <line x1={m.left} x2={width - m.right} y1={y(t)} y2={y(t)} stroke="#e2e8f0" strokeDasharray={t === 0 ? undefined : "2 3"} />
                <text x={m.left - 6} y={y(t)} dy="0.32em" textAnchor="end" className="fill-slate-400 text-[10px] tabular-nums">
                  {yFormat(t)}
                </text>
              </g>
            ))}
            {hover !== null && <rect x={m.left + slot * hover} y={m.top} width={slot} height={plotH} fill="#f1f5f9" />}
            {labels.map((label, i) =>
              i % labelEvery === 0 ? (
                <text key={i} x={cx(i)} y={height - 6} textAnchor="middle" className="fill-slate-400 text-[10px]">
                  {label}
                </text>
              ) : null,
            )}
            {labels.map((_, i) => {
              if (stacked) {
                let acc = 0;
                return (
                  <g key={i}>
                    {bars.map((s) => {
                      const v = s.values[i] ?? 0;
                      if (v <= 0) return null;
                      const y0 = y(acc);
                      acc += v;
                      return (
                        <rect
                          key={s.name}
                          data-series={s.name}
                          data-bucket={i}
                          x={cx(i) - barW / 2}
                          y={y(acc)}
                          width={barW}
                          height={Math.max(0.5, y0 - y(acc))}
                          fill={s.color}
                        />
                      );
                    })}
                  </g>
                );
              }
              return (
                <g key={i}>
                  {bars.map((s, k) => {
                    const v = s.values[i] ?? 0;
                    if (v <= 0) return null;
                    const x = bars.length <= 1 ? cx(i) - barW / 2 : cx(i) - (barW * bars.length) / 2 + k * barW;
                    return (
                      <rect
                        key={s.name}
                        data-series={s.name}
                        data-bucket={i}
                        x={x}
                        y={y(v)}
                        width={Math.max(1, barW - 1)}
                        height={Math.max(0.5, y(0) - y(v))}
                        rx={1}
                        fill={s.color}
                      />
                    );
                  })}
                </g>
              );
            })}
            {lines.map((s) => {
              const pts: string[] = [];
              let d = "";
              s.values.forEach((v, i) => {
                if (v == null) {
                  if (pts.length) d += `M${pts.join("L")}`;
                  pts.length = 0;
                  return;
                }
                pts.push(`${cx(i).toFixed(1)},${y(v).toFixed(1)}`);
              });
              if (pts.length) d += `M${pts.join("L")}`;
              return (
                <g key={s.name}>
                  <path d={d} fill="none" stroke={s.color} strokeWidth={1.75} strokeDasharray={s.dashed ? "4 3" : undefined} strokeLinejoin="round" />
                  {s.values.map((v, i) => {
                    if (v == null) return null;
                    // a point with no neighbour draws no line: make it a visible dot
                    const isolated = s.values[i - 1] == null && s.values[i + 1] == null;
                    if (!isolated && n > 40 && hover !== i) return null;
                    return (
                      <circle key={i} data-series={s.name} data-bucket={i} cx={cx(i)} cy={y(v)} r={hover === i ? 3.5 : isolated ? 3 : 1.75} fill={s.color} />
                    );
                  })}
                </g>
              );
            })}
          </svg>
        )}
        {width > 0 && !hasData && (
          <div className="pointer-events-none absolute inset-0 flex items-center justify-center pl-10 text-xs text-slate-400">
            <span className="rounded bg-white/80 px-2 py-1">{empty}</span>
          </div>
        )}
        {hover !== null && hasData && (
          <div
            className="pointer-events-none absolute z-10 min-w-36 rounded-md border border-slate-200 bg-white/95 px-2.5 py-1.5 text-[11px] shadow-md"
            style={{ top: 4, left: Math.min(Math.max(0, cx(hover) + 12), Math.max(0, width - 170)) }}
          >
            <div className="mb-1 font-medium text-slate-700">{(tooltipLabels ?? labels)[hover]}</div>
            {series.map((s) => (
              <div key={s.name} className="flex items-center justify-between gap-3 tabular-nums">
                <span className="inline-flex items-center gap-1 text-slate-600">
                  <span className="inline-block h-2 w-2 rounded-sm" style={{ background: s.color }} />
                  {s.name}
                </span>
                <span className="text-slate-900">{s.values[hover] == null ? "—" : yFormat(s.values[hover])}</span>
              </div>
            ))}
            {clickHint && <div className="mt-1 border-t border-slate-100 pt-1 text-slate-400">{clickHint}</div>}
          </div>
        )}
      </div>
    </div>
  );
}

/** Horizontal bars with a label and a value each (runs by status). */
export function HBars({ rows, testId }: { rows: Array<{ label: ReactNode; value: number; color: string; key: string }>; testId?: string }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return (
    <ul data-testid={testId} className="space-y-1.5">
      {rows.map((r) => (
        <li key={r.key} data-key={r.key} className="grid grid-cols-[6.5rem_1fr_3.5rem] items-center gap-2 text-xs">
          <span className="truncate text-slate-600">{r.label}</span>
          <span className="h-2.5 rounded-sm bg-slate-100">
            <span className="block h-2.5 rounded-sm" style={{ width: `${(r.value / max) * 100}%`, minWidth: r.value > 0 ? 2 : 0, background: r.color }} />
          </span>
          <span className="text-right font-medium tabular-nums text-slate-800">{r.value.toLocaleString("en-US")}</span>
        </li>
      ))}
    </ul>
  );
}
