import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { MODEL_PRICE_COLUMNS, toModelPrice, type ModelPrice, type ModelPriceRow } from "./setModelPrice.ts";

/**
 * A workspace's model prices, by provider and model prefix. workspaceId null: every row the
 * connection may read (the API's key: its workspace's, by row-level security).
 */
export async function listModelPrices(db: Queryable, workspaceId: string | null = null): Promise<ModelPrice[]> {
  try {
    const { rows } = await db.query<ModelPriceRow>(
      `select ${MODEL_PRICE_COLUMNS} from everruns.model_prices
        where ($1::uuid is null or workspace_id = $1::uuid)
        order by provider, model`,
      [workspaceId],
    );
    return rows.map(toModelPrice);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
