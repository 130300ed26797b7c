/** Rules several gallery kinds share: entity names, immutable properties, dates. */
import { ConflictError, ValidationError } from "../domain/errors.js";

export const GALLERY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}(?<![-.])$/;
export const ARTIFACT_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9])?$/;

const RULE_TEXT = new Map<RegExp, string>([
  [GALLERY_NAME, "^[^_\\W][\\w-._]{0,79}(?<![-.])$"],
  [ARTIFACT_NAME, "^[A-Za-z0-9]([-._A-Za-z0-9]{0,78}[A-Za-z0-9])?$"],
]);

export function checkEntityName(name: string, parameter: string, rule: RegExp): void {
  if (!rule.test(name)) {
    throw new ValidationError(
      "InvalidParameter",
      `The entity name '${parameter}' is invalid according to its validation rule: ${RULE_TEXT.get(rule)}.`,
      parameter,
    );
  }
}

/** `wireName` is how Azure spells the property in its message, e.g. `galleryImage.properties.osType`. */
export function refuseChange(wireName: string, before: unknown, after: unknown): void {
  if (after === undefined) return;
  if (JSON.stringify(before) !== JSON.stringify(after)) {
    throw new ConflictError(
      "PropertyChangeNotAllowed",
      `Changing property '${wireName}' is not allowed.`,
      wireName,
    );
  }
}

export function checkEndOfLife(value: unknown, target: string, now: Date, previous?: unknown) {
  if (value === undefined || value === previous) return;
  const when = Date.parse(String(value));
  if (Number.isNaN(when)) {
    throw new ValidationError(
      "InvalidParameter",
      `'${String(value)}' is not a valid date-time.`,
      target,
    );
  }
  if (when <= now.getTime()) {
    throw new ValidationError(
      "InvalidParameter",
      "EndOfLifeDate must be set to a future date.",
      target,
    );
  }
}

export const dropUndefined = <T extends Record<string, unknown>>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
