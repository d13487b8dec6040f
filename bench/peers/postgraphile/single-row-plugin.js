// PostGraphile v4 plugin of the side-by-side benchmark: a computed column whose function is
// tagged `@singleRow` and declared `RETURNS SETOF` (so that Postgres inlines it where
// PostGraphile calls it, in FROM) is exposed as the one object it returns, as a non-SETOF
// function would be, not as a connection. See computed_columns.sql.
//
// It wraps `build.pgMakeProcField` (graphile-build-pg's makeProcField, which
// PgComputedColumnsPlugin calls) and hands it a copy of the function's introspection with
// `returnsSet: false`; the SQL PostGraphile writes is then `FROM fn(row) AS x`, which Postgres
// inlines because the function itself is SETOF.
"use strict";

function singleRow(proc) {
  return Object.assign(Object.create(Object.getPrototypeOf(proc)), proc, { returnsSet: false });
}

module.exports = function SingleRowComputedColumnsPlugin(builder) {
  builder.hook("build", (build) => {
    const makeProcField = build.pgMakeProcField;
    build.pgMakeProcField = (fieldName, proc, ...rest) =>
      makeProcField(fieldName, proc.returnsSet && proc.tags && proc.tags.singleRow ? singleRow(proc) : proc, ...rest);
    return build;
  });
};
