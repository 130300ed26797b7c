/**
 * Typed errors that domain rules throw. Each carries the Azure error code the caller will see, so
 * that the one catalog in `api/arm/errors.ts` only decides the HTTP status from the kind.
 */
export type ErrorKind =
  "validation" | "not-found" | "conflict" | "quota" | "unauthenticated" | "forbidden" | "too-large";

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly target?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A client sent something invalid; `target` names the offending property or parameter. */
export class ValidationError extends DomainError {
  constructor(code: string, message: string, target?: string) {
    super("validation", code, message, target);
  }
}

export class NotFoundError extends DomainError {
  constructor(code: string, message: string, target?: string) {
    super("not-found", code, message, target);
  }
}

export class ConflictError extends DomainError {
  constructor(code: string, message: string, target?: string) {
    super("conflict", code, message, target);
  }
}

export class QuotaError extends DomainError {
  constructor(code: string, message: string, target?: string) {
    super("quota", code, message, target);
  }
}
