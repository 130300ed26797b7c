/**
 * The benchmark's baseline: a bare Fastify 5 HTTPS route that answers a small JSON, with the TLS
 * certificate and key of the ocg server under test, run as its own process like the ocg server.
 * Usage: node --import tsx bench/bare-server.ts <cert.pem> <key.pem>; prints `listening <port>`.
 */
import { readFileSync } from "node:fs";
import Fastify from "fastify";

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile) {
  process.stderr.write("usage: bare-server <cert.pem> <key.pem>\n");
  process.exit(2);
}

const app = Fastify({
  https: { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") },
});
app.get("/bare", async () => ({ status: "ok" }));
await app.listen({ host: "127.0.0.1", port: 0 });
process.stdout.write(`listening ${(app.server.address() as { port: number }).port}\n`);
process.once("SIGTERM", () => void app.close().then(() => process.exit(0)));
