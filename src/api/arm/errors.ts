/**
 * The one catalog that turns failures into ARM error responses:
 * `{"error":{"code","message","target"?,"details"?}}`. Domain errors carry Azure's code; their kind
 * decides the status. Fastify's own failures (bad JSON, body too large, schema) are mapped here too,
 * so a client's mistake is never a 500.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { DomainError, type ErrorKind } from "../../domain/errors.js";

export interface ArmErrorBody {
  code: string;
  message: string;
  target?: string;
  details?: { code: string; message: string; target?: string }[];
}

const STATUS: Record<ErrorKind, number> = {
  validation: 400,
  "not-found": 404,
  conflict: 409,
  quota: 409,
  unauthenticated: 401,
  forbidden: 403,
  "too-large": 413,
};

/** An error that already knows its HTTP status (wire-level checks in api/). */
export class ArmError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly target?: string,
    readonly details?: ArmErrorBody["details"],
  ) {
    super(message);
  }
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/properties/features/0/name` → `properties.features[0].name` */
export function pathToTarget(instancePath: string, extra?: string): string {
  const parts = instancePath.split("/").filter(Boolean);
  if (extra) parts.push(extra);
  return parts
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

function fromValidation(errors: AjvError[], context: string | undefined): ArmError {
  const e = errors[0]!;
  const missing = e.keyword === "required" ? String(e.params.missingProperty) : undefined;
  const target = pathToTarget(e.instancePath, missing) || context || "body";
  switch (e.keyword) {
    case "required":
      return new ArmError(
        400,
        "InvalidParameter",
        `Required parameter '${target}' is missing (null).`,
        target,
      );
    case "type":
      return new ArmError(
        400,
        "InvalidRequestContent",
        `The request content was invalid and could not be deserialized: the value of '${target}' must be of type ${String(e.params.type)}.`,
        target,
      );
    case "armEnum":
      return new ArmError(400, "InvalidParameter", `${e.message} (property '${target}').`, target);
    default:
      return new ArmError(
        400,
        "InvalidParameter",
        `The value of parameter '${target}' is invalid: it ${e.message ?? "breaks a validation rule"}.`,
        target,
      );
  }
}

export function toArmError(err: unknown): { status: number; body: ArmErrorBody } {
  if (err instanceof ArmError) {
    const b = body(err.code, err.message, err.target);
    if (err.details) b.details = err.details;
    return { status: err.statusCode, body: b };
  }
  if (err instanceof DomainError) {
    return { status: STATUS[err.kind], body: body(err.code, err.message, err.target) };
  }
  const fe = err as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fe.validation) {
    const a = fromValidation(fe.validation, fe.validationContext);
    return { status: 400, body: body(a.code, a.message, a.target) };
  }
  switch (fe.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return {
        status: 400,
        body: body(
          "InvalidRequestContent",
          `The request content was invalid and could not be deserialized: ${fe.message}`,
          "body",
        ),
      };
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return {
        status: 413,
        body: body(
          "RequestContentTooLarge",
          "The request content size exceeds the maximum size of 4 MB.",
          "body",
        ),
      };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return {
        status: 415,
        body: body(
          "UnsupportedMediaType",
          "The content media type is not supported. Use 'application/json'.",
          "Content-Type",
        ),
      };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
    case "FST_ERR_BAD_URL":
    case "FST_ERR_ASYNC_CONSTRAINT":
      return { status: 400, body: body("BadRequest", fe.message) };
  }
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: body("BadRequest", fe.message) };
  }
  return {
    status: 500,
    body: body(
      "InternalServerError",
      "The server encountered an internal error. Please retry the request; the server log has the details.",
    ),
  };
}

function body(code: string, message: string, target?: string): ArmErrorBody {
  return target ? { code, message, target } : { code, message };
}

export function sendArmError(request: FastifyRequest, reply: FastifyReply, err: unknown) {
  const { status, body: error } = toArmError(err);
  if (status >= 500) request.log.error({ err }, "request failed");
  else request.log.info({ code: error.code, target: error.target }, "request refused");
  if (status === 401) {
    reply.header(
      "WWW-Authenticate",
      `Bearer authorization_uri="${reply.server.ocgPublicUrl}/${request.armClaims?.tenantId ?? ""}", error="invalid_token", error_description="${error.message.replace(/"/g, "'")}"`,
    );
  }
  return reply.code(status).type("application/json; charset=utf-8").send({ error });
}
