// A browser-side co-editor with the real `yjs` package: it subscribes to `messageDraft` with the
// stock graphql-ws client, builds its Y.Doc from the first message (the server's state), inserts
// INSERT at the start, sends the doc's update with `applyMessageDraftUpdate` over HTTP, then
// waits for an update made by someone else and reports the text it then holds.
//
// env: QUINTET_HTTP, QUINTET_WS, TOKEN, USER_ID (the token's user), MESSAGE_ID, INSERT.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import * as Y from "yjs";
import { post, report } from "./session.mjs";

const { QUINTET_HTTP, QUINTET_WS, TOKEN, USER_ID, MESSAGE_ID, INSERT } = process.env;
const DRAFT = `subscription Draft($id: ID!) { messageDraft(messageId: $id) { __typename
  ... on MessageDraftState { update text }
  ... on MessageDraftUpdate { update sender { id } } } }`;
const APPLY = `mutation Apply($input: ApplyMessageDraftUpdateInput!) {
  applyMessageDraftUpdate(input: $input) { errors { code message } } }`;

const toBytes = (b64) => new Uint8Array(Buffer.from(b64, "base64"));
const toBase64 = (bytes) => Buffer.from(bytes).toString("base64");

const doc = new Y.Doc();
const text = doc.getText("body");
const client = createClient({
  url: QUINTET_WS,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${TOKEN}` },
});

let joined = null;
const done = new Promise((resolve, reject) => {
  client.subscribe(
    { query: DRAFT, variables: { id: MESSAGE_ID } },
    {
      next: async ({ data, errors }) => {
        if (errors) return reject(new Error(JSON.stringify(errors)));
        const event = data.messageDraft;
        if (event.__typename === "MessageDraftState") {
          Y.applyUpdate(doc, toBytes(event.update), "server");
          joined = text.toString();
          // The edit: the update Yjs emits for it is what goes to the server
          const updates = [];
          doc.on("update", (update, origin) => origin !== "server" && updates.push(update));
          text.insert(0, INSERT);
          const { applyMessageDraftUpdate } = await post(
            QUINTET_HTTP,
            APPLY,
            { input: { messageId: MESSAGE_ID, update: toBase64(Y.mergeUpdates(updates)) } },
            TOKEN,
          );
          if (applyMessageDraftUpdate.errors.length) reject(new Error(JSON.stringify(applyMessageDraftUpdate.errors)));
        } else if (event.__typename === "MessageDraftUpdate") {
          Y.applyUpdate(doc, toBytes(event.update), "server");
          if (event.sender && event.sender.id !== USER_ID) resolve();
        }
      },
      error: reject,
      complete: () => reject(new Error("the subscription completed")),
    },
  );
});
await done;
await client.dispose();
report({ joined, text: text.toString() });
