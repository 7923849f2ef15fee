// Whether a webhook or a notification endpoint is enabled, as a badge.

export function EnabledBadge({ enabled }: { enabled: boolean }) {
  return enabled ? (
    <span
      data-enabled="true"
      className="inline-flex items-center gap-1.5 rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-800 ring-1 ring-inset ring-emerald-300"
    >
      <span className="h-1.5 w-1.5 rounded-full bg-emerald-500" />
      enabled
    </span>
  ) : (
    <span
      data-enabled="false"
      className="inline-flex items-center gap-1.5 rounded-full bg-zinc-100 px-2 py-0.5 text-xs font-medium text-zinc-600 ring-1 ring-inset ring-zinc-300"
    >
      <span className="h-1.5 w-1.5 rounded-full bg-zinc-400" />
      disabled
    </span>
  );
}
