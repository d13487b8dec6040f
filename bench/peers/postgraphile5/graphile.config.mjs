// PostGraphile v5 peer of the side-by-side benchmark (bench/side_by_side.py starts server.mjs,
// which reads this preset). The amber preset over the `public` schema of the bench database,
// node-postgres (`pg`) as the @dataplan/pg adaptor, and the connection-filter plugin for the
// dashboard's `status IN (...)` and the `id IN (...)` of nodes50. Like the v4 peer: no JWT, no
// row-level security, no GraphiQL, no watch mode; errors are not logged per request.
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
  },
};

export default preset;
