// What one GraphQL request may cost. Every operation (HTTP and websocket) is validated against
// these before anything runs, and every connection reads at most MAX_PAGE_SIZE rows:
//
// - aliases: at most MAX_ALIASES per document (the alias bomb: `{a0: allRuns{…} … a999: …}`);
// - depth: at most MAX_DEPTH nested selections (introspection's `__…` fields not counted);
// - cost: an estimate of the fields × rows a request reads, at most MAX_COST. A field costs 1
//   per row of its parent; a connection's `nodes`/`edges` (a list field: its whole selection)
//   have page-size rows per parent row (`first`/`last` as a literal, MAX_PAGE_SIZE when given
//   by a variable, DEFAULT_PAGE_SIZE when absent);
// - pages: `first`/`last` from 0 to MAX_PAGE_SIZE (more is refused with the reason, never
//   truncated silently), DEFAULT_PAGE_SIZE rows when neither is given; `offset` ≥ 0;
// - introspection off in production (NODE_ENV=production), and graphql-js' "Did you mean …?"
//   suggestions dropped from error messages (api/graphql/errors.ts);
// - websockets (api/server.ts): frames of at most MAX_REQUEST_BYTES like HTTP bodies, at most
//   MAX_OPERATIONS_PER_SOCKET operations at once on one socket, MAX_SOCKETS_PER_KEY sockets per API key.
import { lambda, SafeError, type Step } from "postgraphile/grafast";
import {
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  getNamedType,
  isObjectType,
  isInterfaceType,
  parse,
  validate,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from "postgraphile/graphql";

export const MAX_REQUEST_BYTES = 1_000_000;
export const MAX_ALIASES = 30;
export const MAX_DEPTH = 12;
/** Fields × rows. The console's queries cost at most ~12,000 (Runs with first: $first); a depth-1 probe of every field (api/test/isolation.test.ts) up to ~250,000. */
export const MAX_COST = 500_000;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
export const MAX_OPERATIONS_PER_SOCKET = 50;
export const MAX_SOCKETS_PER_KEY = 20;

export interface LimitOptions {
  maxAliases?: number;
  maxDepth?: number;
  maxCost?: number;
  /** Off in production. */
  introspection?: boolean;
}

function fragmentsOf(context: ValidationContext): Map<string, FragmentDefinitionNode> {
  const map = new Map<string, FragmentDefinitionNode>();
  for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) map.set(def.name.value, def);
  return map;
}

/** At most `max` aliases in the whole document (fragments included, each counted once per use). */
export function maxAliasesRule(max: number = MAX_ALIASES): ValidationRule {
  return (context) => {
    const fragments = fragmentsOf(context);
    const count = (set: SelectionSetNode, seen: Set<string>): number => {
      let n = 0;
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          if (sel.alias) n++;
          if (sel.selectionSet) n += count(sel.selectionSet, seen);
        } else if (sel.kind === Kind.INLINE_FRAGMENT) n += count(sel.selectionSet, seen);
        else {
          const frag = fragments.get(sel.name.value);
          if (frag && !seen.has(frag.name.value)) n += count(frag.selectionSet, new Set([...seen, frag.name.value]));
        }
        if (n > max) return n; // enough to refuse
      }
      return n;
    };
    return {
      OperationDefinition(node) {
        const n = count(node.selectionSet, new Set());
        if (n > max) {
          context.reportError(
            new GraphQLError(`too many aliases: more than ${max} in one operation (the limit is ${max})`, {
              nodes: [node],
              extensions: { code: "query_too_complex" },
            }),
          );
        }
      },
    } satisfies ASTVisitor;
  };
}

/** At most `max` levels of nested selections; `__schema`/`__type` subtrees are not counted. */
export function maxDepthRule(max: number = MAX_DEPTH): ValidationRule {
  return (context) => {
    const fragments = fragmentsOf(context);
    const depth = (set: SelectionSetNode, seen: Set<string>): number => {
      let d = 0;
      for (const sel of set.selections) {
        let sub = 0;
        if (sel.kind === Kind.FIELD) {
          if (sel.name.value.startsWith("__")) continue;
          sub = sel.selectionSet ? 1 + depth(sel.selectionSet, seen) : 1;
        } else if (sel.kind === Kind.INLINE_FRAGMENT) sub = depth(sel.selectionSet, seen);
        else {
          const frag = fragments.get(sel.name.value);
          if (frag && !seen.has(frag.name.value)) sub = depth(frag.selectionSet, new Set([...seen, frag.name.value]));
        }
        if (sub > d) d = sub;
        if (d > max) return d;
      }
      return d;
    };
    return {
      OperationDefinition(node) {
        const d = depth(node.selectionSet, new Set());
        if (d > max) {
          context.reportError(
            new GraphQLError(`query too deep: more than ${max} levels of nested fields (the limit is ${max})`, {
              nodes: [node],
              extensions: { code: "query_too_complex" },
            }),
          );
        }
      },
    } satisfies ASTVisitor;
  };
}

/** The page size a paginated field is costed at. */
function pageSize(args: readonly { name: { value: string }; value: ValueNode }[] | undefined): number {
  let size: number | null = null;
  for (const arg of args ?? []) {
    if (arg.name.value !== "first" && arg.name.value !== "last") continue;
    const v = arg.value;
    const n = v.kind === Kind.INT ? Number(v.value) : v.kind === Kind.NULL ? null : MAX_PAGE_SIZE;
    if (n !== null) size = Math.max(size ?? 0, Math.min(Math.max(n, 0), MAX_PAGE_SIZE));
  }
  return size ?? DEFAULT_PAGE_SIZE;
}

/** An estimate of the fields × rows a request reads: at most `max`. */
export function maxCostRule(max: number = MAX_COST): ValidationRule {
  return (context) => {
    const schema: GraphQLSchema = context.getSchema();
    const fragments = fragmentsOf(context);
    /** `page`: the page size of the connection `type` is, whose `nodes` and `edges` read that many rows per parent row. */
    const cost = (type: GraphQLNamedType | null | undefined, set: SelectionSetNode, rows: number, seen: Set<string>, page = 1): number => {
      let total = 0;
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          total += rows;
          if (sel.name.value.startsWith("__") || !sel.selectionSet) continue;
          const def = isObjectType(type) || isInterfaceType(type) ? type.getFields()[sel.name.value] : undefined;
          const fieldType = def ? getNamedType(def.type) : null;
          const under = sel.name.value === "nodes" || sel.name.value === "edges" ? rows * page : rows;
          if (def?.args.some((a) => a.name === "first")) {
            const size = pageSize(sel.arguments);
            // a connection: its nodes/edges are the page; a list: the whole selection is
            const isConnection = isObjectType(fieldType) && "nodes" in fieldType.getFields();
            total += isConnection ? cost(fieldType, sel.selectionSet, under, seen, size) : cost(fieldType, sel.selectionSet, under * size, seen);
          } else total += cost(fieldType, sel.selectionSet, under, seen);
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          const t = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : type;
          total += cost(t, sel.selectionSet, rows, seen, page);
        } else {
          const frag = fragments.get(sel.name.value);
          if (frag && !seen.has(frag.name.value)) {
            total += cost(schema.getType(frag.typeCondition.name.value), frag.selectionSet, rows, new Set([...seen, frag.name.value]), page);
          }
        }
        if (total > max) return total;
      }
      return total;
    };
    return {
      OperationDefinition(node) {
        const root = schema.getRootType(node.operation);
        const c = cost(root, node.selectionSet, 1, new Set());
        if (c > max) {
          context.reportError(
            new GraphQLError(
              `query too expensive: it may read more than ${max} fields × rows (the limit is ${max}); ask for fewer aliases, fields or rows (\`first\`)`,
              { nodes: [node], extensions: { code: "query_too_complex" } },
            ),
          );
        }
      },
    } satisfies ASTVisitor;
  };
}

/** Our validation rules, added after graphql-js' own. */
export function limitRules(options: LimitOptions = {}): ValidationRule[] {
  const rules = [maxAliasesRule(options.maxAliases), maxDepthRule(options.maxDepth), maxCostRule(options.maxCost)];
  if (options.introspection === false) rules.push(NoSchemaIntrospectionCustomRule);
  return rules;
}

/** graphql-js' "Did you mean …?" hints name fields the caller did not know of. */
export const SUGGESTION = / ?Did you mean [^?]*\?$/;

type ParseAndValidate = (query: string) => { errors: readonly GraphQLError[]; document?: undefined } | { document: DocumentNode; errors?: undefined };

const CHECKED_CACHE_SIZE = 500;

/**
 * Checks every operation against our limits where grafserv parses and validates it (HTTP and
 * websockets alike), before graphql-js' own rules: those are slow on a huge document (the
 * alias bomb takes them half a second), ours refuse it in a few ms. Without `suggestions`,
 * graphql-js' "Did you mean …?" is cut from validation errors (grafserv does not mask those).
 */
export function makeLimitsPlugin(options: LimitOptions & { suggestions?: boolean } = {}): GraphileConfig.Plugin {
  const rules = limitRules(options);
  const suggestions = options.suggestions ?? true;
  const checked = new Map<string, readonly GraphQLError[]>();
  const check = (schema: GraphQLSchema, query: string): readonly GraphQLError[] => {
    let errors = checked.get(query);
    if (errors) return errors;
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: 50_000 });
    } catch (error) {
      // a syntax error: graphql-js reports it below; too many tokens: we do
      errors = /maximum number of tokens/.test((error as Error).message)
        ? [new GraphQLError("query too large: more than 50000 tokens", { extensions: { code: "query_too_complex" } })]
        : [];
      return errors;
    }
    errors = validate(schema, document, rules);
    if (checked.size >= CHECKED_CACHE_SIZE) checked.clear();
    checked.set(query, errors);
    return errors;
  };
  const withoutSuggestions = (errors: readonly GraphQLError[]): GraphQLError[] =>
    errors.map((e) =>
      SUGGESTION.test(e.message)
        ? new GraphQLError(e.message.replace(SUGGESTION, ""), {
            nodes: e.nodes,
            source: e.source,
            positions: e.positions,
            path: e.path,
            extensions: e.extensions,
          })
        : e,
    );
  return {
    name: "EverrunsLimitsPlugin",
    version: "0.1.0",
    grafserv: {
      middleware: {
        setPreset(next, event) {
          const getExecutionConfig = event.getExecutionConfig;
          event.getExecutionConfig = async function (ctx) {
            const config = await getExecutionConfig.call(this, ctx);
            const parseAndValidate: ParseAndValidate = config.parseAndValidate;
            const guarded: ParseAndValidate = (query) => {
              const refused = typeof query === "string" ? check(config.schema, query) : [];
              if (refused.length) return { errors: refused };
              const result = parseAndValidate(query);
              return result.errors && !suggestions ? { errors: withoutSuggestions(result.errors) } : result;
            };
            return { ...config, parseAndValidate: guarded };
          };
          return next();
        },
      },
    },
  };
}

function pageArg(name: string, value: unknown, fallback: number | null): number | null {
  if (value == null) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new SafeError(`\`${name}\` must be a whole number ≥ 0, got ${JSON.stringify(value)}`, { code: "invalid_argument" });
  if (name !== "offset" && n > MAX_PAGE_SIZE) {
    throw new SafeError(`\`${name}\` must be at most ${MAX_PAGE_SIZE}, got ${n}; page through the rest with \`after\`/\`before\``, {
      code: "invalid_argument",
    });
  }
  return n;
}

interface PaginatedStep extends Step {
  setFirst(first: Step | number): void;
}

type ApplyPlan = (parent: unknown, $target: PaginatedStep, arg: { getRaw(): Step }) => void;
type FieldPlan = (parent: Step, fieldArgs: { getRaw(name: string): Step }, info: unknown) => Step;

/** Type.field → its pagination arguments, noted by the args hook (which runs after the field hook). */
const paginated = new Map<string, { last: boolean }>();

/**
 * Bounds every PostGraphile connection and list: `first`/`last` at most MAX_PAGE_SIZE, negative
 * `first`/`last`/`offset` refused with the reason, DEFAULT_PAGE_SIZE rows when neither
 * `first` nor `last` is given.
 */
export const PageLimitsPlugin: GraphileConfig.Plugin = {
  name: "EverrunsPageLimitsPlugin",
  version: "0.1.0",
  after: ["PgFirstLastBeforeAfterArgsPlugin"],
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, _build, context) {
        const { isPgFieldConnection, isPgFieldSimpleCollection, fieldName } = context.scope as {
          isPgFieldConnection?: boolean;
          isPgFieldSimpleCollection?: boolean;
          fieldName: string;
        };
        if (!(isPgFieldConnection || isPgFieldSimpleCollection) || !field.plan) return field;
        const key = `${context.Self.name}.${fieldName}`;
        const plan = field.plan as unknown as FieldPlan;
        const wrappedPlan: FieldPlan = (parent, fieldArgs, info) => {
          const $target = plan(parent, fieldArgs, info) as PaginatedStep;
          const args = paginated.get(key);
          if (!args) return $target; // a single row: no `first`
          const $first = args.last
            ? lambda([fieldArgs.getRaw("first"), fieldArgs.getRaw("last")], ([first, last]) => pageArg("first", first, last == null ? DEFAULT_PAGE_SIZE : null))
            : lambda(fieldArgs.getRaw("first"), (first) => pageArg("first", first, DEFAULT_PAGE_SIZE));
          $target.setFirst($first);
          return $target;
        };
        return { ...field, plan: wrappedPlan as never };
      },
      GraphQLObjectType_fields_field_args(args, _build, context) {
        const { isPgFieldConnection, isPgFieldSimpleCollection, fieldName } = context.scope as {
          isPgFieldConnection?: boolean;
          isPgFieldSimpleCollection?: boolean;
          fieldName: string;
        };
        if (!(isPgFieldConnection || isPgFieldSimpleCollection) || !args.first) return args;
        paginated.set(`${context.Self.name}.${fieldName}`, { last: Boolean(args.last) });
        const wrapped = { ...args };
        // `first` is set by the field's plan (with the default), not by its own applyPlan
        wrapped.first = { ...args.first, applyPlan: undefined };
        for (const name of ["last", "offset"] as const) {
          const arg = args[name];
          const original = arg?.applyPlan as ApplyPlan | undefined;
          if (!arg || !original) continue;
          const apply: ApplyPlan = (parent, $target, val) => original(parent, $target, { getRaw: () => lambda(val.getRaw(), (v) => pageArg(name, v, null)) });
          wrapped[name] = { ...arg, applyPlan: apply as never };
        }
        return wrapped;
      },
    },
  },
};
