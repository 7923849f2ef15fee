import Link from "next/link";
import { EmptyIcon } from "@/components/ui";

// A still icon (a magnifier, crossed): the old dashed circle read as a loading spinner.
export default function NotFound() {
  return (
    <div data-testid="not-found" className="flex flex-col items-center py-16 text-center">
      <EmptyIcon kind="not-found" className="h-10 w-10" />
      <p className="mt-3 text-sm font-medium text-slate-500">404</p>
      <h1 className="mt-1 text-xl font-semibold text-slate-900">No such page</h1>
      <p className="mt-1 text-sm text-slate-500">The address may be mistyped, or what it named was deleted.</p>
      <Link href="/runs" className="mt-4 inline-block text-sm text-sky-700 hover:underline">
        Back to runs
      </Link>
    </div>
  );
}
