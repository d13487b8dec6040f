// Apollo Client 4 (HttpLink, InMemoryCache) with incremental delivery against QUINTET_URL, signed in
// with QUINTET_TOKEN: a query with a deferred fragment and one with a streamed list, each watched
// until complete. Every emitted result is reported, with what went over the wire.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQL17Alpha9Handler } from "@apollo/client/incremental";

const seen = [];
const client = new ApolloClient({
  link: new HttpLink({
    uri: process.env.QUINTET_URL,
    headers: { authorization: `Bearer ${process.env.QUINTET_TOKEN}` },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      seen.push({
        accept: new Headers(init.headers).get("accept"),
        status: response.status,
        contentType: response.headers.get("content-type"),
      });
      return response;
    },
  }),
  cache: new InMemoryCache(),
  incrementalHandler: new GraphQL17Alpha9Handler(),
});

const DEFERRED = gql`
  query Dashboard {
    viewer {
      user { displayName }
      ... @defer(label: "pillars") { pillars(first: 10) { totalCount nodes { id name } } }
    }
  }
`;
const STREAMED = gql`
  query Names { viewer { pillars(first: 10) { nodes @stream(initialCount: 1) { id name } } } }
`;

function watch(query) {
  const results = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`incomplete: ${JSON.stringify(results)}`)), 20000);
    const subscription = client.watchQuery({ query, fetchPolicy: "network-only" }).subscribe({
      next: (result) => {
        results.push({ dataState: result.dataState, loading: result.loading, networkStatus: result.networkStatus, data: result.data ?? null, error: result.error?.message ?? null });
        if ((result.dataState === "complete" && !result.loading) || result.error) {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(results);
        }
      },
      error: reject,
    });
  });
}

const deferred = await watch(DEFERRED);
const streamed = await watch(STREAMED);
console.log(JSON.stringify({ deferred, streamed, seen }));
