#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=1024
/**
 * `ocg` commands. `start` boots the server; the others read what it wrote into the data dir and
 * never reach behind the public API.
 *
 * The `#!` line sizes V8's heap for a server whose live heap is ~20 MB (BENCHMARKS.md, memory):
 * young-generation semi-spaces of at most 4 MB instead of 16 (requests die young either way), and
 * an old-space ceiling of 1 GB, under which V8 lets the old space grow to ~1.6× what is live
 * between full collections instead of 4× (a burst of lists otherwise took the heap from 20 to
 * 60 MB). `npm start` runs this file through that line too.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../config/config.js";
import type { Credentials } from "../identity/bootstrap.js";
import { azLoginCommands } from "./az-login.js";
import { diskCommand } from "./disk.js";
import { regionAccess } from "./region-access.js";

const USAGE = `Usage:
  ocg start [--data-dir DIR] [--host H] [--port N] [--config FILE] [--cert F --key F [--ca F]]
            [--database-url URL] [--public-url URL] [--log-level L] [--loose]
  ocg credentials [--data-dir DIR]      print the credentials written on first start
  ocg az-login [--data-dir DIR] [--run] print (or run) the az commands that log in to this server
  ocg region-access grant|revoke --region R --subscription S [--data-dir DIR]
  ocg region-access list [--region R] [--subscription S] [--data-dir DIR]
                                        manage which subscriptions may deploy in restricted
                                        regions (asks the running server, as its admin)
  ocg disk upload -g RG -n NAME -l LOCATION --file PATH [--os-type Linux|Windows]
            [--hyper-v-generation V1|V2] [--format auto|vhd|raw] [--concurrency N] [--data-dir DIR]
                                        a fixed VHD or a raw disk image to a new managed disk
  ocg disk download -g RG -n NAME --file PATH [--format vhd|raw] [--sha256] [--overwrite]
            [--concurrency N] [--data-dir DIR]
                                        a managed disk to a (sparse) local file
`;

function readCredentials(dataDir: string): Credentials {
  const file = join(resolve(dataDir), "credentials.json");
  if (!existsSync(file)) {
    throw new ConfigError(
      `no credentials at ${file}: start the server once with 'ocg start --data-dir ${dataDir}'`,
    );
  }
  return JSON.parse(readFileSync(file, "utf8"));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: command === "region-access" || command === "disk",
    options: {
      "data-dir": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      config: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      ca: { type: "string" },
      "database-url": { type: "string" },
      "public-url": { type: "string" },
      "log-level": { type: "string" },
      loose: { type: "boolean" },
      run: { type: "boolean" },
      region: { type: "string" },
      subscription: { type: "string" },
      "resource-group": { type: "string", short: "g" },
      name: { type: "string", short: "n" },
      location: { type: "string", short: "l" },
      file: { type: "string" },
      "os-type": { type: "string" },
      "hyper-v-generation": { type: "string" },
      format: { type: "string" },
      concurrency: { type: "string" },
      sha256: { type: "boolean" },
      overwrite: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  const dataDir = values["data-dir"] ?? process.env.OCG_DATA_DIR ?? ".ocg";
  switch (values.help ? "help" : command) {
    case "start": {
      if (Boolean(values.cert) !== Boolean(values.key))
        throw new ConfigError("--cert and --key go together");
      // Loaded here so that the other commands don't pay for the server's modules.
      const { startServer } = await import("../main.js");
      const server = await startServer({
        dataDir: values["data-dir"],
        host: values.host,
        port: values.port === undefined ? undefined : Number(values.port),
        configFile: values.config,
        tlsCert: values.cert,
        tlsKey: values.key,
        tlsCa: values.ca,
        databaseUrl: values["database-url"],
        publicUrl: values["public-url"],
        logLevel: values["log-level"] as never,
        loose: values.loose,
      });
      process.stdout.write(
        `ocg listening on ${server.url}\ncredentials: ${server.credentialsFile}\nCA certificate: ${server.caCertificatePath}\n`,
      );
      const stop = () => void server.close().then(() => process.exit(0));
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      return -1;
    }
    case "credentials":
      process.stdout.write(JSON.stringify(readCredentials(dataDir), null, 2) + "\n");
      return 0;
    case "az-login": {
      const { env, commands } = azLoginCommands(readCredentials(dataDir), resolve(dataDir));
      if (!values.run) {
        const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
        process.stdout.write(
          [...exports, ...commands.map((c) => c.map(shellQuote).join(" "))].join("\n") + "\n",
        );
        return 0;
      }
      for (const [cmd, ...args] of commands) {
        const result = spawnSync(cmd!, args, { stdio: "inherit", env: { ...process.env, ...env } });
        if (result.status !== 0) return result.status ?? 1;
      }
      process.stdout.write(
        `\nLogged in. Use az with:\n${Object.entries(env)
          .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
          .join("\n")}\n`,
      );
      return 0;
    }
    case "region-access": {
      const out = await regionAccess(readCredentials(dataDir), positionals[0], {
        region: values.region,
        subscription: values.subscription,
      });
      if (out) process.stdout.write(out + "\n");
      return 0;
    }
    case "disk": {
      // Ctrl-C ends an upload cleanly (the half-made disk is deleted); a second one exits.
      const abort = new AbortController();
      process.once("SIGINT", () => {
        process.stderr.write("\ninterrupted: cleaning up (Ctrl-C again to quit at once)\n");
        abort.abort();
        process.once("SIGINT", () => process.exit(130));
      });
      const tty = process.stderr.isTTY;
      const out = await diskCommand(() => readCredentials(dataDir), positionals[0], values, {
        signal: abort.signal,
        log: (line, final) =>
          process.stderr.write(tty ? `\r\x1b[K${line}${final ? "\n" : ""}` : `${line}\n`),
      });
      process.stdout.write(out + "\n");
      return 0;
    }
    default:
      process.stdout.write(USAGE);
      return command === undefined || values.help ? 0 : 2;
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ocg: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode =
      err instanceof ConfigError ||
      (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
        ? 2
        : 1;
  },
);
