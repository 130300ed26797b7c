/** Gallery applications: the supported OS type is fixed at creation. */
import { ValidationError } from "../domain/errors.js";
import { TYPES } from "../domain/ids.js";
import type { KindRules, Properties, WriteContext } from "../domain/resource-service.js";
import {
  ARTIFACT_NAME,
  checkEndOfLife,
  checkEntityName,
  dropUndefined,
  refuseChange,
} from "./rules.js";

type CustomAction = { name: string; parameters?: { name: string }[] };

/** Custom action names are unique (an application's, or an application version's at `at`). */
export function checkCustomActions(
  actions: CustomAction[] | undefined,
  at = "properties.customActions",
) {
  const seen = new Set<string>();
  for (const [i, action] of (actions ?? []).entries()) {
    if (seen.has(action.name)) {
      throw new ValidationError(
        "InvalidParameter",
        `Custom action names must be unique; '${action.name}' is used twice.`,
        `${at}[${i}].name`,
      );
    }
    seen.add(action.name);
  }
}

function applicationProperties(input: Properties, ctx: WriteContext, previous?: Properties) {
  checkCustomActions(input.customActions as CustomAction[] | undefined);
  checkEndOfLife(input.endOfLifeDate, "properties.endOfLifeDate", ctx.now, previous?.endOfLifeDate);
  return dropUndefined({
    description: input.description,
    eula: input.eula,
    privacyStatementUri: input.privacyStatementUri,
    releaseNoteUri: input.releaseNoteUri,
    endOfLifeDate: input.endOfLifeDate,
    supportedOSType: input.supportedOSType,
    customActions: input.customActions,
  });
}

export function applicationRules(): KindRules {
  return {
    type: TYPES.application,
    nameParameter: "galleryApplicationName",
    checkName: (name) => checkEntityName(name, "galleryApplicationName", ARTIFACT_NAME),
    create: (input, ctx) => applicationProperties(input, ctx),
    replace: (existing, input, ctx) => {
      refuseChange(
        "galleryApplication.properties.supportedOSType",
        existing.properties.supportedOSType,
        input.supportedOSType,
      );
      return applicationProperties(
        { ...input, supportedOSType: existing.properties.supportedOSType },
        ctx,
        existing.properties,
      );
    },
  };
}
