// Apollo Client's GraphQLWsLink (over the stock graphql-ws client, its default retries) keeps a
// subscription alive across an access-token expiry, as tests/clients/graphql_ws_expiry.mjs does
// without Apollo: 4403 at expiry, a reconnect whose async `connectionParams` refreshes the token,
// a new STARTED, and the change made after it arrives through `client.subscribe`.
//
// env: QUINTET_URL (http), QUINTET_WS, FIRST_TOKEN (short-lived), REFRESH_TOKEN.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { createPillar, refreshSession, report } from "./session.mjs";

const { QUINTET_URL, QUINTET_WS, FIRST_TOKEN, REFRESH_TOKEN } = process.env;

let session = { accessToken: FIRST_TOKEN, refreshToken: REFRESH_TOKEN };
let paramsCalls = 0;
let refreshes = 0;
const closes = [];

const wsLink = new GraphQLWsLink(
  createClient({
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
    on: { closed: (event) => closes.push({ code: event.code, reason: event.reason }) },
  }),
);
const httpLink = new HttpLink({ uri: QUINTET_URL });
const isSubscription = ({ query }) => {
  const definition = getMainDefinition(query);
  return definition.kind === "OperationDefinition" && definition.operation === "subscription";
};
const apollo = new ApolloClient({ link: ApolloLink.split(isSubscription, wsLink, httpLink), cache: new InMemoryCache() });

const SUBSCRIPTION = gql`subscription Changes { aurumHierarchyChanges { __typename
  ... on LiveUpdatesStatus { state } ... on AurumHierarchyChange { change nodeId } } }`;

const messages = [];
const changed = new Set();
const result = await new Promise((resolve) => {
  let pillarId = null;
  let creating = false;
  const subscription = apollo.subscribe({ query: SUBSCRIPTION }).subscribe({
    next: ({ data, error }) => {
      if (error) return resolve({ error: String(error) });
      const event = data.aurumHierarchyChanges;
      messages.push({ typename: event.__typename, state: event.state, closesBefore: closes.length });
      if (event.__typename === "AurumHierarchyChange") changed.add(event.nodeId);
      if (event.state === "STARTED" && closes.length > 0 && !creating) {
        creating = true;
        createPillar(QUINTET_URL, session.accessToken, "After the reconnect").then((id) => {
          pillarId = id;
          if (changed.has(id)) (subscription.unsubscribe(), resolve({ pillarId }));
        }, (error) => resolve({ error: String(error) }));
      } else if (pillarId !== null && changed.has(pillarId)) {
        subscription.unsubscribe();
        resolve({ pillarId });
      }
    },
    error: (error) => resolve({ error: String(error) }),
    complete: () => resolve({ error: "completed" }),
  });
});
apollo.stop();
report({ ...result, messages, closes, paramsCalls, refreshes });
