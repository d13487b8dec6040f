// The PostGraphile v5 peer's HTTP server: `node server.mjs` with DATABASE_URL, HOST, PORT and
// WORKERS (processes; node:cluster shares the port between them, as v4's --cluster-workers
// does). Each process serves the preset of graphile.config.mjs with grafserv on node:http.
import cluster from "node:cluster";
import { createServer } from "node:http";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? "5678");
const workers = Number(process.env.WORKERS ?? "1");

if (cluster.isPrimary && workers > 1) {
  let stopping = false;
  for (let i = 0; i < workers; i++) {
    cluster.fork();
  }
  cluster.on("exit", (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code}); stopping`);
      stopping = true;
      process.exit(1);
    }
  });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) {
        worker?.process.kill("SIGTERM");
      }
      process.exit(0);
    });
  }
} else {
  const { postgraphile } = await import("postgraphile");
  const { grafserv } = await import("postgraphile/grafserv/node");
  const { default: preset } = await import("./graphile.config.mjs");
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  await serv.addTo(server);
  server.listen(port, host, () => {
    console.log(`PostGraphile v5 listening on http://${host}:${port}/graphql (pid ${process.pid})`);
  });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      server.close();
      pgl.release().finally(() => process.exit(0));
    });
  }
}
