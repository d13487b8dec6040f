// urql with incremental delivery against QUINTET_URL, signed in with QUINTET_TOKEN: a query with a
// deferred fragment, once with urql's defaults (its Accept lists text/event-stream before
// multipart/mixed, so the payloads come as events) and once asking for multipart/mixed only.
// Every result urql emits is reported, with what went over the wire.
import { Client, fetchExchange, gql } from "@urql/core";

// Unsubscribing aborts the request's fetch; urql lets that AbortError surface as an unhandled
// rejection, which is the client's own teardown, not a failure.
process.on("unhandledRejection", (error) => {
  if (error?.name !== "AbortError") throw error;
});

const seen = [];
function client(accept) {
  return new Client({
    url: process.env.QUINTET_URL,
    exchanges: [fetchExchange],
    preferGetMethod: false,
    fetchOptions: () => ({
      headers: { authorization: `Bearer ${process.env.QUINTET_TOKEN}`, ...(accept ? { accept } : {}) },
    }),
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      seen.push({ accept: new Headers(init.headers).get("accept"), contentType: response.headers.get("content-type") });
      return response;
    },
  });
}

const query = gql(process.env.QUINTET_QUERY);

function results(urql) {
  const emitted = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`incomplete: ${JSON.stringify(emitted)}`)), 20000);
    const { unsubscribe } = urql.query(query, {}, { requestPolicy: "network-only" }).subscribe((result) => {
      emitted.push({ data: result.data ?? null, error: result.error?.message ?? null, hasNext: result.hasNext });
      if (!result.hasNext) {
        clearTimeout(timer);
        unsubscribe();
        resolve(emitted);
      }
    });
  });
}

const defaults = await results(client(null));
const multipart = await results(client("multipart/mixed, application/graphql-response+json;q=0.5"));
console.log(JSON.stringify({ defaults, multipart, seen }));
