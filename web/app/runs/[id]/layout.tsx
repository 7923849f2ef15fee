// The run page's server side: reads EVERRUNS_TRACE_URL from the console server's environment on
// every request (never at build time: connection() makes the route dynamic) and hands the checked
// template to the page's "Trace" link (web/lib/trace-link.tsx).
import { connection } from "next/server";
import type { ReactNode } from "react";
import { TraceUrlProvider } from "@/lib/trace-link";
import { parseTraceUrlTemplate, TRACE_URL_ENV } from "@/lib/trace-url";

export default async function RunLayout({ children }: { children: ReactNode }) {
  await connection();
  return <TraceUrlProvider value={parseTraceUrlTemplate(process.env[TRACE_URL_ENV])}>{children}</TraceUrlProvider>;
}
