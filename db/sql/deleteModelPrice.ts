import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { checkModelPrice } from "./setModelPrice.ts";

/**
 * Deletes a workspace's price of a provider's model prefix; true when there was one. workspaceId
 * null: the current workspace (the API's key's, by row-level security), or default for an
 * administrator's connection.
 */
export async function deleteModelPrice(db: Queryable, input: { provider: string; model: string; workspaceId?: string | null }): Promise<boolean> {
  // the same rules as a set's: a provider that is none, a prefix too long, named as such
  const { provider, model } = checkModelPrice({ provider: input.provider, model: input.model, inputPerMillion: 0, outputPerMillion: 0 });
  try {
    const { rowCount } = await db.query(
      `delete from everruns.model_prices
        where workspace_id = coalesce($1::uuid, everruns_private.current_or_default_workspace_id()) and provider = $2 and model = $3`,
      [input.workspaceId ?? null, provider, model],
    );
    return (rowCount ?? 0) > 0;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
