/** Wire schemas of galleries, image definitions and applications (GalleryRP 2026-03-03). */
import { Type } from "@sinclair/typebox";
import { ArmEnum, Obj, OsType } from "./common.js";

const Text = Type.String({ maxLength: 4096 });
const Uri = Type.String({ maxLength: 2048 });
const DateTime = Type.String({ maxLength: 64 });
const Int = Type.Integer({ minimum: -2147483648, maximum: 2147483647 });

export const GalleryProperties = Obj({
  description: Type.Optional(Text),
  identifier: Type.Optional(Obj({})),
  sharingProfile: Type.Optional(
    Obj({
      permissions: Type.Optional(ArmEnum(["Private", "Groups", "Community"] as const)),
      communityGalleryInfo: Type.Optional(
        Obj({
          publisherUri: Type.Optional(Uri),
          publisherContact: Type.Optional(Type.String({ maxLength: 256 })),
          eula: Type.Optional(Text),
          publicNamePrefix: Type.Optional(
            Type.String({ minLength: 5, maxLength: 16, pattern: "^[A-Za-z0-9]+$" }),
          ),
        }),
      ),
    }),
  ),
  softDeletePolicy: Type.Optional(
    Obj({
      isSoftDeleteEnabled: Type.Optional(Type.Boolean()),
      retentionPeriodInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
      gracePeriodInDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 3650 })),
    }),
  ),
});

const Identifier = Obj({
  publisher: Type.String({ minLength: 1, maxLength: 128 }),
  offer: Type.String({ minLength: 1, maxLength: 64 }),
  sku: Type.String({ minLength: 1, maxLength: 64 }),
});

const Range = Obj({ min: Type.Optional(Int), max: Type.Optional(Int) });

const definitionFields = {
  description: Type.Optional(Text),
  eula: Type.Optional(Text),
  privacyStatementUri: Type.Optional(Uri),
  releaseNoteUri: Type.Optional(Uri),
  hyperVGeneration: Type.Optional(ArmEnum(["V1", "V2"] as const)),
  endOfLifeDate: Type.Optional(DateTime),
  recommended: Type.Optional(Obj({ vCPUs: Type.Optional(Range), memory: Type.Optional(Range) })),
  disallowed: Type.Optional(
    Obj({ diskTypes: Type.Optional(Type.Array(Type.String(), { maxItems: 32 })) }),
  ),
  purchasePlan: Type.Optional(
    Obj({
      name: Type.Optional(Type.String({ maxLength: 256 })),
      publisher: Type.Optional(Type.String({ maxLength: 256 })),
      product: Type.Optional(Type.String({ maxLength: 256 })),
    }),
  ),
  features: Type.Optional(
    Type.Array(
      Obj({
        name: Type.String({ minLength: 1, maxLength: 256 }),
        value: Type.String({ maxLength: 256 }),
        startsAtVersion: Type.Optional(Type.String({ maxLength: 64 })),
      }),
      { maxItems: 64 },
    ),
  ),
  architecture: Type.Optional(ArmEnum(["x64", "Arm64"] as const)),
  allowUpdateImage: Type.Optional(Type.Boolean()),
};

/** PUT: osType, osState and identifier are required. */
export const ImageDefinitionProperties = Obj({
  ...definitionFields,
  osType: OsType,
  osState: ArmEnum(["Generalized", "Specialized"] as const),
  identifier: Identifier,
});

/** PATCH: everything optional (the merge keeps what is not sent). */
export const ImageDefinitionPatchProperties = Obj({
  ...definitionFields,
  osType: Type.Optional(OsType),
  osState: Type.Optional(ArmEnum(["Generalized", "Specialized"] as const)),
  identifier: Type.Optional(Identifier),
});

/** Custom actions of an application and of its versions (GalleryApplicationCustomAction). */
export const CustomActions = Type.Array(
  Obj({
    name: Type.String({ minLength: 1, maxLength: 256 }),
    script: Type.String({ minLength: 1, maxLength: 65536 }),
    description: Type.Optional(Text),
    parameters: Type.Optional(
      Type.Array(
        Obj({
          name: Type.String({ minLength: 1, maxLength: 256 }),
          required: Type.Optional(Type.Boolean()),
          type: Type.Optional(
            ArmEnum(["String", "ConfigurationDataBlob", "LogOutputBlob"] as const),
          ),
          defaultValue: Type.Optional(Type.String({ maxLength: 4096 })),
          description: Type.Optional(Text),
        }),
        { maxItems: 64 },
      ),
    ),
  }),
  { maxItems: 64 },
);

const applicationFields = {
  description: Type.Optional(Text),
  eula: Type.Optional(Text),
  privacyStatementUri: Type.Optional(Uri),
  releaseNoteUri: Type.Optional(Uri),
  endOfLifeDate: Type.Optional(DateTime),
  customActions: Type.Optional(CustomActions),
};

export const ApplicationProperties = Obj({ ...applicationFields, supportedOSType: OsType });
export const ApplicationPatchProperties = Obj({
  ...applicationFields,
  supportedOSType: Type.Optional(OsType),
});
