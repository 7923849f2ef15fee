// Column `id` stays `id` (a UUID, the same id REST, SQL and the CLI use); the Relay global
// object identifier is `nodeId` instead. Amber's default would rename every `id` column to
// `rowId`, which no other interface of Everruns calls it.
export const EverrunsIdsPlugin: GraphileConfig.Plugin = {
  name: "EverrunsIdsPlugin",
  version: "0.0.0",
  after: ["PgAttributesPlugin"],
  inflection: {
    replace: {
      _attributeName(previous, _options, details) {
        const name = previous!(details);
        if (!details.skipRowId && name === "row_id") {
          const attribute = details.codec.attributes[details.attributeName];
          const base = attribute?.extensions?.tags?.name || details.attributeName;
          if (String(base).toLowerCase() === "id" && !details.codec.isAnonymous) return "id";
        }
        return name;
      },
      nodeIdFieldName() {
        return "nodeId";
      },
    },
  },
};
