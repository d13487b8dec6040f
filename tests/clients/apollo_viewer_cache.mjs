// Apollo Client's InMemoryCache (no type policies) normalizes the viewer as `Viewer:<id>`: after a
// second, different viewer query, `readQuery` of the first still returns its data. The same two
// queries without `id` show what it prevents: the second replaces the unnormalized viewer and the
// first reads back null.
//
// env: QUINTET_URL, TOKEN.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { report } from "./session.mjs";

const { QUINTET_URL, TOKEN } = process.env;

function client() {
  const link = new HttpLink({ uri: QUINTET_URL, headers: { authorization: `Bearer ${TOKEN}` } });
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

async function twoViewerQueries(withId) {
  const id = withId ? "id" : "";
  const pillars = gql(`query ViewerPillars { viewer { ${id} pillars(first: 5) { nodes { id name } } } }`);
  const user = gql(`query ViewerUser { viewer { ${id} user { id displayName } unreadNotificationCount } }`);
  const apollo = client();
  const first = await apollo.query({ query: pillars });
  const second = await apollo.query({ query: user });
  const result = {
    first: first.data,
    second: second.data,
    firstAgain: apollo.readQuery({ query: pillars }),
    secondAgain: apollo.readQuery({ query: user }),
    cacheKeys: Object.keys(apollo.cache.extract()).sort(),
  };
  apollo.stop();
  return result;
}

// Apollo warns (console.warn) when it has to replace the unnormalized viewer; keep stdout clean.
console.warn = () => {};
report({ withId: await twoViewerQueries(true), withoutId: await twoViewerQueries(false) });
