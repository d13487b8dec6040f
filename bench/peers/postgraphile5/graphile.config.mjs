// PostGraphile v5 peer of the side-by-side benchmark (bench/side_by_side.py starts server.mjs,
// which reads this preset). The amber preset over the `public` schema of the bench database,
// node-postgres (`pg`) as the @dataplan/pg adaptor, and the connection-filter plugin for the
// dashboard's `status IN (...)` and the `id IN (...)` of nodes50. Like the v4 peer: no JWT, no
// GraphiQL, no watch mode; errors are not logged per request. No row-level security either,
// except for a request that names its user in `X-Bench-User` (the campaign dashboard's): it runs
// as Quintet's app role with the user's actor settings, so the database's policies filter its
// rows as they filter Quintet's (membership of the campaign; roles are Quintet's own).
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

/**
 * A function tagged `@singleRow` and declared `RETURNS SETOF` (so that Postgres inlines it where
 * PostGraphile calls it, in a lateral join) is exposed as the one object it returns, as a
 * non-SETOF function would be (a unique resource), not as a connection. See
 * bench/peers/postgraphile/computed_columns.sql.
 * @type {GraphileConfig.Plugin}
 */
const SingleRowFunctionsPlugin = {
  name: "SingleRowFunctionsPlugin",
  version: "1.0.0",
  gather: {
    hooks: {
      pgProcedures_PgResourceOptions(info, event) {
        const { resourceOptions } = event;
        if (resourceOptions.extensions?.tags?.singleRow) {
          resourceOptions.isUnique = true;
          delete resourceOptions.hasImplicitOrder;
        }
      },
    },
  },
};

const connectionString = process.env.DATABASE_URL;
if (!connectionString) {
  throw new Error("DATABASE_URL is required");
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  // Expose relations, orders and conditions whether or not an index leads with their columns,
  // as v4 does by default (v4's `ignoreIndexes`); the SQL is the same either way. Without it v5
  // drops e.g. `Project.tasksByProjectIdAndUserId` (no index starts with project_id, user_id).
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  plugins: [SingleRowFunctionsPlugin],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      // The same pool size as the v4 peer (--max-pool-size 20) and the Python peers.
      poolConfig: { max: 20 },
    }),
  ],
  grafserv: {
    graphiql: false,
    watch: false,
    websockets: false,
  },
  grafast: {
    explain: false,
    context(requestContext) {
      const user = requestContext.node?.req?.headers["x-bench-user"];
      if (typeof user !== "string" || !/^[0-9a-f-]{36}$/.test(user)) {
        return {};
      }
      return {
        pgSettings: { role: "quintet_app", "quintet.actor_kind": "user", "quintet.user_id": user },
      };
    },
  },
};

export default preset;
