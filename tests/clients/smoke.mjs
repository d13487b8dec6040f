// The harness itself: one query with graphql-http's client against QUINTET_URL.
import { createClient } from "graphql-http";

const client = createClient({ url: process.env.QUINTET_URL });
const result = await new Promise((resolve, reject) => {
  let value;
  client.subscribe(
    { query: "{ __typename }" },
    { next: (data) => (value = data), error: reject, complete: () => resolve(value) },
  );
});
console.log(JSON.stringify(result));
