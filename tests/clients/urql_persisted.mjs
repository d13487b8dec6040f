// urql with its defaults sending persisted documents, as GraphQL Code Generator's client preset
// makes them with `persistedDocuments: { mode: "replaceDocumentWithHash" }`: a DocumentNode with
// no definitions and a `documentId`, which urql sends as the `documentId` parameter (GET for a
// query within the URL limit, POST for a mutation), against QUINTET_URL as QUINTET_TOKEN.
import { Client, fetchExchange } from "@urql/core";

const seen = []; // method, URL's parameters or body's keys, status, cache headers
const client = new Client({
  url: process.env.QUINTET_URL,
  exchanges: [fetchExchange],
  fetchOptions: () => ({ headers: { authorization: `Bearer ${process.env.QUINTET_TOKEN}` } }),
  fetch: async (url, init) => {
    const response = await fetch(url, init);
    const params = [...new URL(url).searchParams.keys()];
    seen.push({
      method: init.method,
      params,
      body: init.body ? Object.keys(JSON.parse(init.body)) : [],
      status: response.status,
      cacheControl: response.headers.get("cache-control"),
    });
    return response;
  },
});

const persisted = (documentId) => ({ kind: "Document", definitions: [], documentId });
const plain = (result) => ({ data: result.data ?? null, error: result.error ? result.error.message : null });

const query = plain(
  await client.query(persisted(process.env.QUERY_ID), {}, { requestPolicy: "network-only" }).toPromise(),
);
const mutation = plain(
  await client.mutation(persisted(process.env.MUTATION_ID), { name: "From a persisted document" }).toPromise(),
);
const unknown = plain(
  await client.query(persisted("sha256:" + "0".repeat(64)), {}, { requestPolicy: "network-only" }).toPromise(),
);

console.log(JSON.stringify({ query, mutation, unknown, seen }));
