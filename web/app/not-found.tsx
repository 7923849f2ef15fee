import Link from "next/link";

export default function NotFound() {
  return (
    <div className="py-16 text-center">
      <p className="text-sm font-medium text-slate-500">404</p>
      <h1 className="mt-1 text-xl font-semibold text-slate-900">No such page</h1>
      <Link href="/runs" className="mt-4 inline-block text-sm text-sky-700 hover:underline">
        Back to runs
      </Link>
    </div>
  );
}
