// The stock graphql-ws client (its default retries) keeps a subscription alive across an
// access-token expiry: the server closes with 4403 when the token expires (or refuses an expired
// one at connection_init with 4403), the client reconnects, its async `connectionParams` returns a
// fresh token (from the `refreshToken` mutation) and the subscription starts again and receives
// the changes made after the reconnect.
//
// env: QUINTET_URL (http), QUINTET_WS, FIRST_TOKEN (short-lived or already expired, minted by the
// test), REFRESH_TOKEN (the session's). The first `connectionParams` call returns FIRST_TOKEN
// as it is, so that the server meets it; every later call refreshes the session.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { createPillar, refreshSession, report } from "./session.mjs";

const { QUINTET_URL, QUINTET_WS, FIRST_TOKEN, REFRESH_TOKEN } = process.env;
const SUBSCRIPTION = `subscription Changes { aurumHierarchyChanges { __typename
  ... on LiveUpdatesStatus { state } ... on AurumHierarchyChange { change nodeId } } }`;

let session = { accessToken: FIRST_TOKEN, refreshToken: REFRESH_TOKEN };
let paramsCalls = 0;
let refreshes = 0;
const closes = [];
let connections = 0;

const client = createClient({
  url: QUINTET_WS,
  webSocketImpl: WebSocket,
  connectionParams: async () => {
    paramsCalls += 1;
    if (paramsCalls > 1) {
      session = await refreshSession(QUINTET_URL, session.refreshToken);
      refreshes += 1;
    }
    return { authorization: `Bearer ${session.accessToken}` };
  },
  on: {
    connected: () => (connections += 1),
    closed: (event) => closes.push({ code: event.code, reason: event.reason }),
  },
});

const messages = [];
const changed = new Set();
const result = await new Promise((resolve) => {
  let pillarId = null;
  let creating = false;
  const dispose = client.subscribe(
    { query: SUBSCRIPTION, operationName: "Changes" },
    {
      next: ({ data, errors }) => {
        if (errors) return resolve({ error: errors });
        const event = data.aurumHierarchyChanges;
        messages.push({ typename: event.__typename, state: event.state, change: event.change, closesBefore: closes.length });
        if (event.__typename === "AurumHierarchyChange") changed.add(event.nodeId);
        if (event.state === "STARTED" && closes.length > 0 && !creating) {
          // Live again after the reconnect: a change made now must arrive.
          creating = true;
          createPillar(QUINTET_URL, session.accessToken, "After the reconnect").then((id) => {
            pillarId = id;
            if (changed.has(id)) (dispose(), resolve({ pillarId }));
          }, (error) => resolve({ error: String(error) }));
        } else if (pillarId !== null && changed.has(pillarId)) {
          dispose();
          resolve({ pillarId });
        }
      },
      error: (error) => resolve({ error: { code: error.code, reason: error.reason, message: String(error.message) } }),
      complete: () => resolve({ error: "completed" }),
    },
  );
});
await client.dispose();
report({ ...result, messages, closes, connections, paramsCalls, refreshes });
