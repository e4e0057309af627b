// Drives Tandem with Apollo Client's persisted-query link, unmodified: the client hashes each
// document with SHA-256 (Node's crypto), sends the hash alone, and on PersistedQueryNotFound
// retries with the text by itself.
//
// Usage: node apollo_persisted_queries.mjs <http base URL> <e-mail> <password>
//
// Prints one JSON object per line: each step's result and the HTTP requests the client made
// for it (method, whether they carried the text and the hash, the answer's status).
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [baseUrl, email, password] = process.argv.slice(2);
const uri = baseUrl + "/graphql";

const say = (step, value) => console.log(JSON.stringify({ step, ...value }));
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

let requests = [];

// Node's fetch, noting what each request sent and what came back.
async function noting(input, init = {}) {
  const url = new URL(typeof input === "string" ? input : input.url);
  const method = init.method ?? "GET";
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

function client(token, useGETForHashedQueries) {
  const http = new HttpLink({ uri, fetch: noting, headers: { authorization: `Bearer ${token}` } });
  return new ApolloClient({
    link: new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(http),
    cache: new InMemoryCache(),
    // Every query goes to the server: the test is about what travels.
    defaultOptions: { query: { fetchPolicy: "no-cache" } },
  });
}

// What one call sent, and its data.
async function step(name, run) {
  requests = [];
  const result = await run();
  say(name, { data: result.data ?? null, error: result.error?.message ?? null, requests });
}

const ME = gql`
  query Me {
    me {
      email
    }
  }
`;
const STAGES = gql`
  query Stages {
    stages {
      name
    }
  }
`;
const CREATE = gql`
  mutation Create($input: CreateOpportunityInput!) {
    createOpportunity(input: $input) {
      opportunity {
        name
      }
      userErrors {
        code
      }
    }
  }
`;

async function main() {
  const login = await fetch(uri, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
      variables: { e: email, p: password },
    }),
  });
  const token = (await login.json()).data.login.token;

  const posting = client(token, false);
  await step("first", () => posting.query({ query: ME }));
  await step("second", () => posting.query({ query: ME }));

  const getting = client(token, true);
  await step("get-first", () => getting.query({ query: STAGES }));
  await step("get-second", () => getting.query({ query: STAGES }));
  const input = { name: "Apollo deal", expectedValue: { amount: "9.00", currency: "EUR" } };
  await step("mutation", () => getting.mutate({ mutation: CREATE, variables: { input } }));
  await step("mutation-again", () => getting.mutate({ mutation: CREATE, variables: { input } }));
  process.exit(0);
}

main().catch((error) => {
  say("failed", { message: String(error?.message ?? error), stack: String(error?.stack) });
  process.exit(1);
});
