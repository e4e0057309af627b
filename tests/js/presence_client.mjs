// The npm `graphql-ws` client (Apollo Client's and urql's) on Tandem's presence subscription.
//
// Usage: node presence_client.mjs <http base URL> <e-mail> <password> <opportunity ID>
//
// Subscribes to the deal's presence, announcing itself as VIEWING (session "node-tab"), and
// prints each snapshot it receives as a JSON line; the library answers the server's pings by
// itself, which keeps the presence alive. A line on stdin ends the subscription and the
// client, and the script says so.
import { createInterface } from "node:readline";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [baseUrl, email, password, opportunityId] = process.argv.slice(2);
const say = (step, value) => console.log(JSON.stringify({ step, ...value }));

const PRESENCE = `subscription($id: ID!) {
  presence(opportunityId: $id, announce: VIEWING, sessionId: "node-tab") {
    opportunityId entries { user { name } state sessionId }
  }
}`;

async function main() {
  const response = await fetch(baseUrl + "/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
      variables: { e: email, p: password },
    }),
  });
  const token = (await response.json()).data.login.token;
  const client = createClient({
    url: baseUrl.replace(/^http/, "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
    lazy: true,
  });
  const stop = client.subscribe(
    { query: PRESENCE, variables: { id: opportunityId } },
    {
      next: (result) => say(result.errors ? "errors" : "snapshot", result),
      error: (error) => say("failed", { message: String(error?.reason ?? error) }),
      complete: () => {},
    },
  );
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await lines.next();
  stop();
  await client.dispose();
  say("stopped", {});
  process.exit(0);
}

main().catch((error) => {
  say("failed", { message: String(error?.message ?? error) });
  process.exit(1);
});
