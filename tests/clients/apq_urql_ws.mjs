// urql's persistedExchange with `enableForSubscriptions` in front of its subscriptionExchange over
// the stock graphql-ws client: a subscription through a first client (the hash alone, a miss, then
// the text), then through a fresh client on a new connection, which should start by hash alone.
//
// env: QUINTET_WS, TOKEN, QUERY (a subscription the server has not stored).
// Prints { first: {data, sent}, again: {data, sent} }; `sent` is each `subscribe` message's payload
// as it went over the socket: whether it carried the text and the hash.
import { Client, gql, subscriptionExchange } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { report } from "./session.mjs";

const { QUINTET_WS, TOKEN, QUERY } = process.env;

async function run() {
  const sent = [];
  class RecordingWebSocket extends WebSocket {
    send(data) {
      const message = JSON.parse(data);
      if (message.type === "subscribe") {
        const { payload } = message;
        sent.push({
          withText: typeof payload.query === "string" && payload.query.length > 0,
          withHash: typeof payload.extensions?.persistedQuery?.sha256Hash === "string",
        });
      }
      super.send(data);
    }
  }
  // Each run its own connection (left open: the report ends the process).
  const ws = createClient({ url: QUINTET_WS, webSocketImpl: RecordingWebSocket, connectionParams: { token: TOKEN } });
  const client = new Client({
    url: "http://unused.invalid/graphql",
    exchanges: [
      persistedExchange({ enableForSubscriptions: true }),
      // urql's documented graphql-ws setup: `query || ""`, since graphql-ws's client requires a
      // string and the persisted exchange leaves the text out of a hash-only request.
      subscriptionExchange({
        forwardSubscription: (request) => {
          const input = { ...request, query: request.query || "" };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
    ],
  });
  let subscription;
  const result = await new Promise((resolve) => {
    subscription = client.subscription(gql(QUERY), {}).subscribe((value) => resolve(value));
  });
  subscription.unsubscribe();
  return { data: result.data ?? null, error: result.error ? result.error.message : null, sent };
}

report({ first: await run(), again: await run() });
