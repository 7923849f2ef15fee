import type { Queryable } from "../pool.ts";

export interface AgentDailyUsage {
  day: string;
  agentId: string;
  agentName: string;
  runs: number;
  inputTokens: number;
  outputTokens: number;
  /** parts of inputTokens: read from / written to the provider's prompt cache */
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** a part of outputTokens */
  reasoningTokens: number;
  costUsd: number;
}

/**
 * Per agent and UTC day, the runs started and their tokens (with the cache and reasoning parts;
 * 0 for runs whose usage has none) and cost, over the last `days` days (today included); oldest
 * day first. An index range of runs_created_idx.
 */
export async function readAgentDailyUsage(db: Queryable, days: number): Promise<AgentDailyUsage[]> {
  const { rows } = await db.query<AgentDailyUsage>(
    `select to_char(date_trunc('day', r.created_at at time zone 'UTC'), 'YYYY-MM-DD') as "day",
            r.agent_id as "agentId",
            a.name as "agentName",
            count(*)::int as "runs",
            coalesce(sum((r.usage ->> 'input_tokens')::float8), 0) as "inputTokens",
            coalesce(sum((r.usage ->> 'output_tokens')::float8), 0) as "outputTokens",
            coalesce(sum((r.usage ->> 'cache_read_tokens')::float8), 0) as "cacheReadTokens",
            coalesce(sum((r.usage ->> 'cache_write_tokens')::float8), 0) as "cacheWriteTokens",
            coalesce(sum((r.usage ->> 'reasoning_tokens')::float8), 0) as "reasoningTokens",
            round(coalesce(sum((r.usage ->> 'cost_usd')::numeric), 0), 6)::float8 as "costUsd"
       from everruns.runs r
       join everruns.agents a on a.id = r.agent_id
      where r.created_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - make_interval(days => $1 - 1)
      group by 1, 2, 3
      order by 1, 3`,
    [days],
  );
  return rows;
}
