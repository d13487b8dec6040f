// What the client scripts share: GraphQL over HTTP with fetch, a session's refresh (the
// `refreshToken` mutation, as an app refreshes its access token), and the report line.

export async function post(url, query, variables = {}, token = undefined) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors) throw new Error(`${query.slice(0, 40)}…: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const REFRESH = `mutation Refresh($input: RefreshTokenInput!) {
  refreshToken(input: $input) { session { accessToken refreshToken } errors { code message } } }`;

/** A new access token (and the next single-use refresh token) for `refreshToken`. */
export async function refreshSession(url, refreshToken) {
  const { refreshToken: payload } = await post(url, REFRESH, { input: { refreshToken } });
  if (payload.errors.length) throw new Error(`refreshToken: ${JSON.stringify(payload.errors)}`);
  return payload.session;
}

const CREATE_PILLAR = `mutation CreatePillar($input: CreatePillarInput!) {
  createPillar(input: $input) { pillar { id } errors { code message } } }`;

export async function createPillar(url, token, name) {
  const { createPillar: payload } = await post(url, CREATE_PILLAR, { input: { name } }, token);
  if (payload.errors.length) throw new Error(`createPillar: ${JSON.stringify(payload.errors)}`);
  return payload.pillar.id;
}

/** Print the script's result (the harness reads the last line) and exit. */
export function report(result) {
  console.log(JSON.stringify(result));
  process.exit(0);
}
