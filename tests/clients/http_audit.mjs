// graphql-http's server audit (the GraphQL-over-HTTP spec's MUST, SHOULD and MAY checks) against QUINTET_URL.
import { auditServer } from "graphql-http";

const results = await auditServer({ url: process.env.QUINTET_URL });
console.log(
  JSON.stringify({
    results: results.map(({ id, name, status, reason }) => ({ id, name, status, reason })),
  }),
);
