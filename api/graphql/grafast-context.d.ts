// What the API puts in every request's Grafast context (api/graphql/preset.ts) for the plans that
// read it with context().get(...) (api/graphql/subscriptions.ts, access.ts, api-keys.ts). A
// declaration file, because augmenting the global Grafast namespace takes namespace syntax;
// preset.ts imports EverrunsGrafastContext from here, so every program that builds the preset
// sees the augmentation.
import type { GrafastSubscriber } from "postgraphile/grafast";
import type { Auth } from "../auth.ts";

declare global {
  namespace Grafast {
    interface Context {
      /** The events hub as a Grafast pubsub (null where there is none, e.g. the schema export). */
      everrunsHub: GrafastSubscriber | null;
      /** The verified API key of the request (null only where nothing runs: the schema export). */
      everrunsAuth: Auth | null;
    }
  }
}

/** The part of the Grafast context the API sets. */
export type EverrunsGrafastContext = Pick<Grafast.Context, "everrunsHub" | "everrunsAuth"> & { pgSettings?: Record<string, string> };
