// A schedule's state as a badge: active, or paused (by an operator, its spec error or its failures).

export function PausedBadge() {
  return (
    <span className="inline-flex w-fit items-center gap-1.5 rounded-full bg-amber-50 px-2 py-0.5 text-xs font-medium text-amber-900 ring-1 ring-inset ring-amber-300">
      <span className="h-1.5 w-1.5 rounded-full bg-amber-500" />
      paused
    </span>
  );
}

export function ActiveBadge() {
  return (
    <span className="inline-flex w-fit items-center gap-1.5 rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-800 ring-1 ring-inset ring-emerald-300">
      <span className="h-1.5 w-1.5 rounded-full bg-emerald-500" />
      active
    </span>
  );
}
