// Drives Tandem with the npm `graphql-ws` client, the one Apollo Client and urql use.
//
// Usage: node graphql_ws_client.mjs <http base URL> <e-mail> <password> <opportunity ID>
//
// Prints one JSON object per line (what it did and saw) and waits for a line on stdin
// wherever the test must act in between: the test reads the lines and makes the changes.
import { createInterface } from "node:readline";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [baseUrl, email, password, opportunityId] = process.argv.slice(2);
const wsUrl = baseUrl.replace(/^http/, "ws") + "/graphql";

let binaryFrames = 0;
let textFrames = 0;

// The ws WebSocket, counting what kind of frame each server message came in.
class CountingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on("message", (_data, isBinary) => {
      if (isBinary) binaryFrames += 1;
      else textFrames += 1;
    });
  }
}

const say = (step, value) => console.log(JSON.stringify({ step, ...value }));

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const waitForTest = async () => (await lines.next()).value;

async function post(query, variables, token) {
  const response = await fetch(baseUrl + "/graphql", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

function connect(token) {
  return createClient({
    url: wsUrl,
    webSocketImpl: CountingWebSocket,
    connectionParams: { token },
    retryAttempts: 0,
    lazy: true,
  });
}

// The first `count` results of `request`, then the subscription is stopped.
function take(client, request, count, onStarted = () => {}) {
  return new Promise((resolve, reject) => {
    const received = [];
    const stop = client.subscribe(request, {
      next: (result) => {
        if (result.errors) {
          reject(new Error(JSON.stringify(result.errors)));
          return;
        }
        received.push(result.data);
        if (received.length === count) {
          stop();
          resolve(received);
        }
      },
      // A refused connection arrives as the socket's CloseEvent (code, reason).
      error: (error) => reject(error),
      complete: () => resolve(received),
    });
    onStarted();
  });
}

const EVENTS = `subscription Events($id: ID, $since: String) {
  opportunityEvents(opportunityId: $id, since: $since) {
    cursor kind version opportunity { nextStep } actor { name }
  }
}`;

async function main() {
  const login = await post(
    "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token } }",
    { e: email, p: password },
  );
  const token = login.data.login.token;
  say("logged-in", { hasToken: typeof token === "string" });

  const client = connect(token);
  const [me] = await take(client, { query: "{ me { email } }" }, 1);
  say("query", { me });

  const live = await take(client, { query: EVENTS, variables: { id: opportunityId } }, 2, () =>
    say("subscribed", {}),
  );
  say("events", { events: live.map((r) => r.opportunityEvents) });
  await client.dispose();

  say("offline", {});
  await waitForTest(); // the test changes the deal once more meanwhile
  const again = connect(token);
  const since = live[0].opportunityEvents.cursor;
  const resumed = await take(again, { query: EVENTS, variables: { id: opportunityId, since } }, 2);
  say("resumed", { events: resumed.map((r) => r.opportunityEvents) });
  await again.dispose();

  const refused = connect("not-a-token");
  try {
    await take(refused, { query: "{ me { email } }" }, 1);
    say("bad-token", { closeCode: null, detail: "accepted" });
  } catch (error) {
    say("bad-token", {
      closeCode: error.code ?? null,
      reason: error.reason ?? null,
      detail: String(error),
    });
  }
  await refused.dispose();

  say("frames", { text: textFrames, binary: binaryFrames });
  process.exit(0);
}

main().catch((error) => {
  const detail = error && error.message ? error.message : JSON.stringify(error);
  say("failed", { message: String(detail), code: error?.code ?? null });
  process.exit(1);
});
