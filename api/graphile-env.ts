// Grafast reads GRAPHILE_ENV when it is first imported and complains when it is unset; say
// "production" unless the operator asked for development checks. Imported before postgraphile.
process.env.GRAPHILE_ENV ??= process.env.NODE_ENV === "development" ? "development" : "production";
