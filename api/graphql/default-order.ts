// Default orders of connection fields: PostGraphile's own default is PRIMARY_KEY_ASC, a random
// order for UUID keys; a list of batches or deliveries reads newest first unless asked otherwise.
import { getNamedType, isEnumType } from "postgraphile/graphql";

/**
 * A plugin that gives each listed field's `orderBy` argument a default value. `orders` maps
 * "Type.field" to one of the field's orderBy enum values; a name that is not one fails the schema
 * build (a renamed column must not silently drop the order).
 */
export function defaultOrderPlugin(name: string, orders: Record<string, string>): GraphileConfig.Plugin {
  return {
    name,
    version: "0.0.0",
    after: ["PgConnectionArgOrderByDefaultValuePlugin"],
    schema: {
      hooks: {
        GraphQLObjectType_fields_field_args_arg(arg, _build, context) {
          const { argName, fieldName } = context.scope as { argName: string; fieldName: string };
          const wanted = argName === "orderBy" ? orders[`${context.Self.name}.${fieldName}`] : undefined;
          if (!wanted) return arg;
          const type = getNamedType(arg.type);
          const value = isEnumType(type) ? type.getValues().find((v) => v.name === wanted) : undefined;
          if (!value) throw new Error(`${name}: ${context.Self.name}.${fieldName} has no orderBy value ${wanted}`);
          return { ...arg, defaultValue: [value.value] };
        },
      },
    },
  };
}
