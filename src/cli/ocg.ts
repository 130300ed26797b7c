#!/usr/bin/env node
/**
 * `ocg` commands. `start` boots the server; the others read what it wrote into the data dir and
 * never reach behind the public API.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../config/config.js";
import type { Credentials } from "../identity/bootstrap.js";
import { azLoginCommands } from "./az-login.js";
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
    allowPositionals: command === "region-access",
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
