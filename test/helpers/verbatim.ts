/**
 * A raw HTTPS call that sends the path exactly as given: fetch (and so `call` in server.ts) would
 * normalize `..`, `%2e%2e` and friends before the server sees them, and bad-input tests need them.
 */
import { request } from "node:https";
import type { TestServer } from "./server.js";

export interface Answer {
  status: number;
  text: string;
  json: Record<string, any> | undefined;
}

export interface Send {
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

/** One HTTPS request with the path sent as given (fetch would normalize `..` and `%2e`). */
export function send(
  t: TestServer,
  token: string,
  method: string,
  path: string,
  options: Send = {},
): Promise<Answer> {
  const url = new URL(t.url);
  const body = options.body !== undefined ? JSON.stringify(options.body) : options.rawBody;
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(body));
  }
  Object.assign(headers, options.headers);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        let json: Record<string, any> | undefined;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, text, json });
      });
    });
    // The server may answer (413) before it has read a large body; its answer still arrives.
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") reject(err);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}
