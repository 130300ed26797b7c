/**
 * What the `ocg` client commands share: an HTTPS connection to the running server that trusts the
 * data dir's CA, a login with credentials.json through the server's own token endpoint, and ARM
 * calls whose failures become `ApiError`s that read `what: code: message`. Plain node:https, so the
 * commands need no runtime dependency (the Azure SDKs are dev-only).
 */
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Credentials } from "../identity/bootstrap.js";

/** A failure the server reported (or a server we could not reach), for people to read. */
export class ApiError extends Error {
  constructor(
    message: string,
    /** The HTTP status, 0 when the server was not reached. */
    readonly status = 0,
  ) {
    super(message);
  }
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body as text, and parsed as JSON when it is (undefined otherwise). */
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

export interface RequestInit {
  method: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Per-request inactivity timeout; default 120 s. */
  timeoutMs?: number;
}

function unreachable(url: URL, err: Error): ApiError {
  return new ApiError(
    `cannot reach the server at ${url.origin} (${err.message}); is 'ocg start' running?`,
  );
}

/** `what: code: message` from an ARM (JSON) or Storage (XML) error answer. */
export function failure(what: string, answer: Answer): ApiError {
  const error = answer.json?.error as { code?: string; message?: string } | undefined;
  if (error?.code) {
    return new ApiError(`${what}: ${error.code}: ${error.message ?? ""}`, answer.status);
  }
  const code = /<Code>([^<]*)<\/Code>/.exec(answer.text)?.[1];
  const message = /<Message>([^<\n]*)/.exec(answer.text)?.[1];
  return new ApiError(
    code ? `${what}: ${code}: ${message ?? ""}` : `${what}: HTTP ${answer.status}`,
    answer.status,
  );
}

export class ApiClient {
  readonly agent: Agent;
  private token: string | undefined;

  constructor(
    readonly credentials: Credentials,
    options: { maxSockets?: number } = {},
  ) {
    this.agent = new Agent({
      ca: readFileSync(credentials.caCertificatePath, "utf8"),
      keepAlive: true,
      maxSockets: options.maxSockets ?? 16,
    });
  }

  /** One request, its whole answer read. */
  async send(url: URL, init: RequestInit): Promise<Answer> {
    const res = await this.open(url, init);
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      throw new ApiError(`the connection to ${url.origin} broke (${(err as Error).message})`);
    }
    const body = Buffer.concat(chunks);
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      body,
      get text() {
        return body.toString("utf8");
      },
      get json() {
        try {
          return body.length ? JSON.parse(body.toString("utf8")) : undefined;
        } catch {
          return undefined;
        }
      },
    };
  }

  /** One request; the answer's body left to the caller to stream. */
  open(url: URL, init: RequestInit): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        { method: init.method, headers: init.headers, agent: this.agent },
        resolve,
      );
      req.setTimeout(init.timeoutMs ?? 120_000, () =>
        req.destroy(new Error(`no answer in ${Math.round((init.timeoutMs ?? 120_000) / 1000)} s`)),
      );
      req.on("error", (err) => reject(unreachable(url, err)));
      req.end(init.body);
    });
  }

  /** Logs in as the principal of credentials.json (client credentials grant). */
  async login(): Promise<void> {
    const { credentials } = this;
    const answer = await this.send(
      new URL(`/${credentials.tenantId}/oauth2/v2.0/token`, credentials.authorityHost),
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret,
          scope: "https://management.azure.com/.default",
        }).toString(),
      },
    );
    const token = answer.json?.access_token;
    if (answer.status !== 200 || typeof token !== "string") {
      throw failure("cannot log in with credentials.json", answer);
    }
    this.token = token;
  }

  /** An ARM call on the resource manager endpoint, as the logged-in principal. */
  async arm(method: string, path: string, apiVersion: string, body?: unknown): Promise<Answer> {
    if (this.token === undefined) await this.login();
    const url = new URL(path, this.credentials.resourceManagerEndpoint);
    url.searchParams.set("api-version", apiVersion);
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    return this.send(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
