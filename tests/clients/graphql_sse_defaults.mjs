// The graphql-sse client with its defaults (distinct connections mode) against QUINTET_URL,
// signed in with QUINTET_TOKEN: a subscription that receives the change a mutation (sent by
// graphql-sse's own client too, as a single-result operation) made.
import { createClient } from "graphql-sse";

const client = createClient({
  url: process.env.QUINTET_URL,
  headers: { authorization: `Bearer ${process.env.QUINTET_TOKEN}` },
  retryAttempts: 0,
});

const CHANGES = `subscription Changes {
  aurumHierarchyChanges {
    __typename
    ... on LiveUpdatesStatus { state }
    ... on AurumHierarchyChange { change nodeId node { ... on Pillar { name } } }
  }
}`;
const CREATE = `mutation Create($input: CreatePillarInput!) {
  createPillar(input: $input) { pillar { id name } errors { code } } }`;

const once = (request) =>
  new Promise((resolve, reject) => {
    let value = null;
    client.subscribe(request, { next: (data) => (value = data), error: reject, complete: () => resolve(value) });
  });

const events = [];
let created = null;
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no event in time: ${JSON.stringify(events)}`)), 20000);
  const dispose = client.subscribe(
    { query: CHANGES },
    {
      next: (result) => {
        events.push(result);
        const message = result.data?.aurumHierarchyChanges;
        if (message?.state === "STARTED") {
          once({ query: CREATE, variables: { input: { name: "From graphql-sse" } } }).then((done) => {
            created = done;
          }, reject);
        } else if (message?.__typename === "AurumHierarchyChange") {
          clearTimeout(timer);
          dispose();
          resolve();
        }
      },
      error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
      complete: () => {},
    },
  );
});
// The mutation's own answer may come after the event it caused
for (let i = 0; created === null && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
client.dispose();
console.log(JSON.stringify({ mutation: created, events }));
