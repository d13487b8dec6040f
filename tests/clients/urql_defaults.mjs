// urql with its defaults (fetchExchange: GET for short queries, its own Accept header, Server-Sent
// Events over fetch for subscriptions) against QUINTET_URL, signed in with QUINTET_TOKEN: a query,
// a mutation, and a subscription that receives the change the mutation made.
import { Client, fetchExchange, gql } from "@urql/core";

const seen = []; // what went over the wire: method, Accept, status, content type
const client = new Client({
  url: process.env.QUINTET_URL,
  exchanges: [fetchExchange],
  fetchSubscriptions: true,
  fetchOptions: () => ({ headers: { authorization: `Bearer ${process.env.QUINTET_TOKEN}` } }),
  fetch: async (url, init) => {
    const response = await fetch(url, init);
    seen.push({
      method: init.method,
      accept: new Headers(init.headers).get("accept"),
      status: response.status,
      contentType: response.headers.get("content-type"),
    });
    return response;
  },
});

const plain = (result) => ({
  data: result.data ?? null,
  error: result.error ? result.error.message : null,
  hasNext: result.hasNext,
});

const query = plain(await client.query(gql`query Me { viewer { user { displayName } } }`, {}).toPromise());

const CREATE = gql`
  mutation Create($input: CreatePillarInput!) { createPillar(input: $input) { pillar { id name } errors { code } } }
`;
const CHANGES = gql`
  subscription Changes {
    aurumHierarchyChanges {
      __typename
      ... on LiveUpdatesStatus { state }
      ... on AurumHierarchyChange { change nodeId node { ... on Pillar { name } } }
    }
  }
`;

// Unsubscribing aborts the stream's fetch; urql lets that AbortError surface as an unhandled
// rejection, which is the client's own teardown, not a failure.
process.on("unhandledRejection", (error) => {
  if (error?.name !== "AbortError") throw error;
});

const events = [];
let created = null;
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no event in time: ${JSON.stringify(events)}`)), 20000);
  let mutated = null;
  let changed = false;
  const { unsubscribe } = client.subscription(CHANGES, {}).subscribe((result) => {
    events.push(plain(result));
    const message = result.data?.aurumHierarchyChanges;
    if (message?.state === "STARTED") {
      mutated = client.mutation(CREATE, { input: { name: "From urql" } }).toPromise();
    } else if (message?.__typename === "AurumHierarchyChange" || result.error) {
      if (changed) return;
      changed = true;
      (mutated ?? Promise.resolve(null)).then((done) => {
        created = done && plain(done);
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }, reject);
    }
  });
});

console.log(JSON.stringify({ query, mutation: created, events, seen }));
