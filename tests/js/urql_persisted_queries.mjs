// Drives Tandem with urql's persisted-query exchange, unmodified, preferring GET: the hash
// alone by GET, and after PersistedQueryNotFound the text with its hash, still by GET.
//
// Usage: node urql_persisted_queries.mjs <http base URL> <e-mail> <password>
//
// Prints one JSON object per line, as apollo_persisted_queries.mjs does.
import { createHash } from "node:crypto";
import { Client, fetchExchange, gql } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";
import { logIn, notingFetch, reportFailure, step } from "./noting_fetch.mjs";

const [baseUrl, email, password] = process.argv.slice(2);

const ME = gql`
  query Me {
    me {
      email
    }
  }
`;
const CREATE = gql`
  mutation Create($input: CreateOpportunityInput!) {
    createOpportunity(input: $input) {
      opportunity {
        name
      }
    }
  }
`;

async function main() {
  const url = baseUrl + "/graphql";
  const token = await logIn(url, email, password);
  const client = new Client({
    url,
    fetch: notingFetch,
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
    requestPolicy: "network-only",
    exchanges: [
      persistedExchange({
        preferGetForPersistedQueries: true,
        enableForMutation: true,
        generateHash: async (query) => createHash("sha256").update(query).digest("hex"),
      }),
      fetchExchange,
    ],
  });
  await step("first", () => client.query(ME, {}).toPromise());
  await step("second", () => client.query(ME, {}).toPromise());
  const input = { name: "urql deal", expectedValue: { amount: "3.00", currency: "EUR" } };
  await step("mutation", () => client.mutation(CREATE, { input }).toPromise());
  await step("mutation-again", () => client.mutation(CREATE, { input }).toPromise());
  process.exit(0);
}

main().catch(reportFailure);
