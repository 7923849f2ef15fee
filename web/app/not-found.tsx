import Link from "next/link";

// A still icon (a magnifier, crossed): the old dashed circle read as a loading spinner.
export default function NotFound() {
  return (
    <div data-testid="not-found" className="flex flex-col items-center py-16 text-center">
      <svg
        data-testid="icon-not-found"
        aria-hidden
        viewBox="0 0 24 24"
        fill="none"
        stroke="currentColor"
        strokeWidth={1.5}
        strokeLinecap="round"
        className="h-10 w-10 text-slate-400"
      >
        <circle cx="10.5" cy="10.5" r="6" />
        <path d="M15 15l5.5 5.5M8.5 8.5l4 4M12.5 8.5l-4 4" />
      </svg>
      <p className="mt-3 text-sm font-medium text-slate-500">404</p>
      <h1 className="mt-1 text-xl font-semibold text-slate-900">No such page</h1>
      <p className="mt-1 text-sm text-slate-500">The address may be mistyped, or what it named was deleted.</p>
      <Link href="/runs" className="mt-4 inline-block text-sm text-sky-700 hover:underline">
        Back to runs
      </Link>
    </div>
  );
}
