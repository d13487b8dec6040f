// The stock graphql-ws client (its default retries: 5, with backoff) given a token the server will
// never accept (forged, malformed, none): the server closes with 4401, which the client treats as
// fatal, so the subscription fails at once, after one connection attempt and no retry.
//
// env: QUINTET_WS, TOKEN (sent as `Bearer TOKEN`; empty: no token at all).
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { report } from "./session.mjs";

const { QUINTET_WS, TOKEN } = process.env;
let paramsCalls = 0;
let attempts = 0;
const closes = [];

const client = createClient({
  url: QUINTET_WS,
  webSocketImpl: WebSocket,
  connectionParams: async () => {
    paramsCalls += 1;
    return TOKEN ? { authorization: `Bearer ${TOKEN}` } : {};
  },
  on: {
    connecting: () => (attempts += 1),
    closed: (event) => closes.push({ code: event.code, reason: event.reason }),
  },
});

const error = await new Promise((resolve) => {
  client.subscribe(
    { query: "subscription Changes { aurumHierarchyChanges { __typename } }", operationName: "Changes" },
    { next: () => {}, error: resolve, complete: () => resolve(null) },
  );
});
await client.dispose();
report({ error: error && { code: error.code, reason: error.reason }, attempts, paramsCalls, closes });
