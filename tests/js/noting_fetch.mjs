// Node's fetch, noting what each GraphQL request sent and what came back, so a test can
// check what a client library put on the wire.
export const requests = [];

export async function notingFetch(input, init = {}) {
  const url = new URL(typeof input === "string" ? input : input.url);
  const method = (init.method ?? "GET").toUpperCase();
  const sent = method === "GET" ? Object.fromEntries(url.searchParams) : JSON.parse(init.body);
  const extensions =
    typeof sent.extensions === "string" ? JSON.parse(sent.extensions) : sent.extensions;
  const response = await fetch(input, init);
  const body = await response.clone().json();
  requests.push({
    method,
    withText: typeof sent.query === "string",
    hash: extensions?.persistedQuery?.sha256Hash ?? null,
    status: response.status,
    codes: (body.errors ?? []).map((e) => e.extensions?.code ?? null),
  });
  return response;
}

export const say = (step, value) => console.log(JSON.stringify({ step, ...value }));

// What one call of a client sent, and the data it got.
export async function step(name, run) {
  requests.length = 0;
  const result = await run();
  say(name, { data: result.data ?? null, error: result.error?.message ?? null, requests });
}

export async function logIn(uri, email, password) {
  const response = await fetch(uri, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
      variables: { e: email, p: password },
    }),
  });
  return (await response.json()).data.login.token;
}

export function reportFailure(error) {
  say("failed", { message: String(error?.message ?? error), stack: String(error?.stack) });
  process.exit(1);
}
