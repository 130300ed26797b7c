/**
 * Image definitions. osType, osState, hyperVGeneration, architecture and the publisher/offer/sku
 * identifier are fixed at creation; publisher/offer/sku is unique within a gallery. From
 * api-version 2025-03-03 a definition without a generation defaults to V2 with Trusted Launch
 * supported, as Azure does.
 */
import { ConflictError, ValidationError } from "../domain/errors.js";
import { TYPES } from "../domain/ids.js";
import type { KindRules, Properties, WriteContext } from "../domain/resource-service.js";
import {
  ARTIFACT_NAME,
  checkEndOfLife,
  checkEntityName,
  dropUndefined,
  refuseChange,
} from "./rules.js";

const GEN2_DEFAULT_FROM = "2025-03-03";
const TRUSTED_LAUNCH_TYPES = new Set([
  "trustedlaunch",
  "trustedlaunchsupported",
  "trustedlaunchandconfidentialvmsupported",
  "confidentialvm",
  "confidentialvmsupported",
]);

type Identifier = { publisher: string; offer: string; sku: string };
type Feature = { name: string; value: string; startsAtVersion?: string };

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.values(v).every(isEmpty);
  return false;
}

function checkRecommended(recommended: unknown) {
  for (const resource of ["vCPUs", "memory"]) {
    const range = (recommended as Record<string, { min?: number; max?: number }> | undefined)?.[
      resource
    ];
    if (range?.min !== undefined && range.max !== undefined && range.min > range.max) {
      throw new ValidationError(
        "InvalidParameter",
        `The minimum of recommended ${resource} (${range.min}) is greater than its maximum (${range.max}).`,
        `properties.recommended.${resource}`,
      );
    }
  }
}

function checkFeatures(features: Feature[] | undefined, hyperVGeneration: string) {
  const names = new Set<string>();
  for (const [i, f] of (features ?? []).entries()) {
    const key = f.name.toLowerCase();
    if (names.has(key)) {
      throw new ValidationError(
        "InvalidParameter",
        `Feature '${f.name}' is specified more than once.`,
        `properties.features[${i}].name`,
      );
    }
    names.add(key);
    if (
      key === "securitytype" &&
      TRUSTED_LAUNCH_TYPES.has(f.value.toLowerCase()) &&
      hyperVGeneration === "V1"
    ) {
      throw new ValidationError(
        "InvalidParameter",
        `The security type '${f.value}' requires hyperVGeneration 'V2'; it is not supported for a 'V1' image definition.`,
        "properties.hyperVGeneration",
      );
    }
  }
}

function definitionProperties(input: Properties, ctx: WriteContext, previous?: Properties) {
  const newDefaults = ctx.apiVersion >= GEN2_DEFAULT_FROM;
  const hyperVGeneration =
    (input.hyperVGeneration as string | undefined) ??
    (previous?.hyperVGeneration as string | undefined) ??
    (newDefaults ? "V2" : "V1");
  let features = input.features as Feature[] | undefined;
  if (
    !previous &&
    newDefaults &&
    input.hyperVGeneration === undefined &&
    !features?.some((f) => f.name.toLowerCase() === "securitytype")
  ) {
    features = [...(features ?? []), { name: "SecurityType", value: "TrustedLaunchSupported" }];
  }
  checkFeatures(features, hyperVGeneration);
  checkRecommended(input.recommended);
  checkEndOfLife(input.endOfLifeDate, "properties.endOfLifeDate", ctx.now, previous?.endOfLifeDate);
  return dropUndefined({
    hyperVGeneration,
    architecture: (input.architecture ?? previous?.architecture ?? "x64") as string,
    osType: input.osType,
    osState: input.osState,
    identifier: input.identifier,
    description: input.description,
    eula: input.eula,
    privacyStatementUri: input.privacyStatementUri,
    releaseNoteUri: input.releaseNoteUri,
    endOfLifeDate: input.endOfLifeDate,
    recommended: isEmpty(input.recommended) ? undefined : input.recommended,
    disallowed: isEmpty(input.disallowed) ? undefined : input.disallowed,
    purchasePlan: isEmpty(input.purchasePlan) ? undefined : input.purchasePlan,
    features: isEmpty(features) ? undefined : features,
    allowUpdateImage: input.allowUpdateImage,
  });
}

export function imageDefinitionRules(limit: number): KindRules {
  return {
    type: TYPES.image,
    nameParameter: "galleryImageName",
    checkName: (name) => checkEntityName(name, "galleryImageName", ARTIFACT_NAME),
    create: (input, ctx) => definitionProperties(input, ctx),
    replace: (existing, input, ctx) => {
      const before = existing.properties;
      for (const p of ["osType", "osState", "hyperVGeneration", "architecture", "identifier"]) {
        refuseChange(`galleryImage.properties.${p}`, before[p], input[p]);
      }
      return definitionProperties(
        { ...input, identifier: before.identifier, osType: before.osType, osState: before.osState },
        ctx,
        before,
      );
    },
    uniqueKey: (parentKey, p) => {
      const id = p.identifier as Identifier;
      return `${parentKey}|image|${id.publisher}|${id.offer}|${id.sku}`.toLowerCase();
    },
    uniqueConflict: (name, p) => {
      const id = p.identifier as Identifier;
      return new ConflictError(
        "OperationNotAllowed",
        `Gallery image: ${name} identified by (publisher:${id.publisher}, offer:${id.offer}, sku:${id.sku}) already exists. Choose a different publisher, offer, sku combination.`,
        "properties.identifier",
      );
    },
    quota: { limit, noun: "Gallery Image Definitions" },
  };
}
