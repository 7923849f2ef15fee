// Agent configs are validated by the zod schema (db/schemas.ts AgentConfigWriteSchema: a valid
// config whose model can do what it asks, by the models table) before PostGraphile's generated mutations write them: createAgent and every
// updateAgent* field. An invalid config never reaches SQL; the client gets a GraphQL error with
// code `invalid_agent_config` and a message naming each bad field (`tools[0].headers: ...`).
// Add it to the preset's plugins (api/graphql/preset.ts).
import { sideEffect, type Step } from "postgraphile/grafast";
import { wrapPlans } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import { configWriteSchemaFor, describeIssues } from "../../db/schemas.ts";

/** Throws a ValidationError naming the fields when `config` is not a valid agent config (or workflow config: `"kind": "workflow"`). */
export function assertValidAgentConfig(config: unknown): void {
  const result = configWriteSchemaFor(config).safeParse(config);
  if (!result.success) {
    throw new ValidationError(`invalid agent config: ${describeIssues(result.error)}`, { code: "invalid_agent_config" });
  }
}

const AGENTS_RESOURCE = "agents";
const CONFIG_FIELD = "config";

export const AgentConfigValidationPlugin = wrapPlans(
  (context, build) => {
    const { scope } = context;
    const resource = scope.pgFieldResource;
    if (!scope.isRootMutation || !resource || resource.name !== AGENTS_RESOURCE) return null;
    const record = build.inflection.tableFieldName(resource);
    if (scope.isPgCreateMutation) return { path: ["input", record, CONFIG_FIELD], update: false };
    if (scope.isPgUpdateMutation) return { path: ["input", build.inflection.patchField(record), CONFIG_FIELD], update: true };
    return null;
  },
  ({ path, update }) =>
    (plan, _$source, fieldArgs) => {
      const $config = fieldArgs.getRaw(path);
      // runs before the insert/update step (side effects run in the order they were planned)
      sideEffect($config, (config: unknown) => {
        if (update && config === undefined) return; // a patch that leaves the config alone
        assertValidAgentConfig(config);
      });
      // graphile-utils types the wrapped plan's result `any`; a field plan returns a step (or null)
      return plan() as Step | null;
    },
  { name: "EverrunsAgentConfigValidationPlugin", description: "Validates agents.config with the zod schema before createAgent/updateAgent* write it" },
);
