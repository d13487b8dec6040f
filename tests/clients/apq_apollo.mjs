// Apollo Client 4's PersistedQueryLink (unmodified; SHA-256 from Node's crypto) in front of its
// HttpLink: one query through a first client against QUINTET_URL (a miss, then the text), then
// the same query through a fresh client (its own cache and hash memory) against QUINTET_URL_AGAIN
// (QUINTET_URL unless given: another server process sharing Redis), which should hit by hash.
// USE_GET=1 turns on `useGETForHashedQueries`.
//
// env: QUINTET_URL, QUINTET_URL_AGAIN (optional), TOKEN, QUERY (a document no server has seen), USE_GET.
// Prints { first: {data, requests}, again: {data, requests} }; each request is what went over the
// wire: method, whether the text and the hash were sent, the status and the error codes.
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { report } from "./session.mjs";

const { QUINTET_URL, TOKEN, QUERY, USE_GET } = process.env;
const AGAIN = process.env.QUINTET_URL_AGAIN || QUINTET_URL;

async function sent(init, url) {
  if (init.method === "GET") {
    const params = new URL(url).searchParams;
    return { query: params.get("query"), extensions: JSON.parse(params.get("extensions") ?? "null") };
  }
  return JSON.parse(init.body);
}

async function run(uri) {
  const requests = [];
  const recording = async (url, init) => {
    const body = await sent(init, url);
    const response = await fetch(url, init);
    const answer = await response.clone().json();
    requests.push({
      method: init.method,
      withText: typeof body.query === "string" && body.query.length > 0,
      withHash: typeof body.extensions?.persistedQuery?.sha256Hash === "string",
      status: response.status,
      codes: (answer.errors ?? []).map((error) => error.extensions?.code),
    });
    return response;
  };
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries: USE_GET === "1",
  });
  const http = new HttpLink({ uri, fetch: recording, headers: { authorization: `Bearer ${TOKEN}` } });
  const client = new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
  const result = await client.query({ query: gql(QUERY), fetchPolicy: "network-only" });
  client.stop();
  return { data: result.data, error: result.error ? String(result.error) : null, requests };
}

report({ first: await run(QUINTET_URL), again: await run(AGAIN) });
