// urql's persistedExchange (@urql/exchange-persisted, unmodified: its own SHA-256 and its default
// `preferGetForPersistedQueries: "within-url-limit"`) before fetchExchange: one query through a
// first client (a miss, then the text), then through a fresh client, which should hit by hash.
//
// env: QUINTET_URL, TOKEN, QUERY (a document the server has not seen).
// Prints { first: {data, requests}, again: {data, requests} } as apq_apollo.mjs does.
import { Client, fetchExchange, gql } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";
import { report } from "./session.mjs";

const { QUINTET_URL, TOKEN, QUERY } = process.env;

async function sent(init, url) {
  if ((init.method ?? "GET") === "GET") {
    const params = new URL(url).searchParams;
    return { query: params.get("query"), extensions: JSON.parse(params.get("extensions") ?? "null") };
  }
  return JSON.parse(init.body);
}

async function run() {
  const requests = [];
  const client = new Client({
    url: QUINTET_URL,
    exchanges: [persistedExchange(), fetchExchange],
    requestPolicy: "network-only",
    fetchOptions: () => ({ headers: { authorization: `Bearer ${TOKEN}` } }),
    fetch: async (url, init) => {
      const body = await sent(init, url);
      const response = await fetch(url, init);
      const answer = await response.clone().json();
      requests.push({
        method: init.method ?? "GET",
        withText: typeof body.query === "string" && body.query.length > 0,
        withHash: typeof body.extensions?.persistedQuery?.sha256Hash === "string",
        status: response.status,
        codes: (answer.errors ?? []).map((error) => error.extensions?.code),
      });
      return response;
    },
  });
  const result = await client.query(gql(QUERY), {}).toPromise();
  return { data: result.data ?? null, error: result.error ? result.error.message : null, requests };
}

report({ first: await run(), again: await run() });
