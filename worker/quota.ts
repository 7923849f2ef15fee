// A workspace's daily quota used up (everruns_private.quota_exceeded, 000023): instead of its LLM
// call, the step parks the run (status waiting, its worker slot freed) until the quota resets at
// the next UTC midnight, or until an administrator changes it (set_workspace_admission wakes the
// runs parked on it). The next step checks the quota anew: under it, the LLM call goes ahead.
import type { UsedUpQuota } from "../db/sql/beginStep.ts";
import type { StepOutcome } from "./steps.ts";

export function quotaPark(quota: UsedUpQuota): StepOutcome {
  const value = { limit: quota.limit, used: quota.used, max: quota.max, resets_at: quota.resets_at };
  return {
    step: { kind: "system", name: "quota", status: "succeeded", input: null, output: value },
    events: [{ type: "CUSTOM", name: "everruns.quota", value }],
    // the database's clock says how long: at least a second, so a reset exactly now wakes once
    next: { type: "wait", delay_ms: Math.max(1000, Math.ceil(quota.resets_in_ms)), waiting: { type: "quota", ...value } },
  };
}
