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
import { logIn, notingFetch, reportFailure, step } from "./noting_fetch.mjs";

const [baseUrl, email, password] = process.argv.slice(2);
const uri = baseUrl + "/graphql";
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function client(token, useGETForHashedQueries) {
  const http = new HttpLink({
    uri,
    fetch: notingFetch,
    headers: { authorization: `Bearer ${token}` },
  });
  return new ApolloClient({
    link: new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(http),
    cache: new InMemoryCache(),
    // Every query goes to the server: the test is about what travels.
    defaultOptions: { query: { fetchPolicy: "no-cache" } },
  });
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
  const token = await logIn(uri, email, password);

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

main().catch(reportFailure);
