/**
 * Wire schemas of gallery application versions (GalleryRP 2026-03-03:
 * GalleryApplicationVersionPublishingProfile, UserArtifactSource, UserArtifactManage,
 * UserArtifactSettings, GalleryApplicationVersionSafetyProfile). A PUT needs
 * `publishingProfile.source.mediaLink` (required by the spec); a PATCH may leave anything out.
 */
import { Type } from "@sinclair/typebox";
import { ArmEnum, Obj } from "./common.js";
import { CustomActions } from "./gallery.js";
import { Count, StorageAccountType, TargetRegion } from "./image-version.js";

const Link = Type.String({ minLength: 1, maxLength: 4096 });
/** "This is limited to 4096 characters" (UserArtifactManage, UserArtifactSettings). */
const Text = Type.String({ maxLength: 4096 });
const DateTime = Type.String({ maxLength: 64 });

const Manage = Obj({ install: Text, remove: Text, update: Type.Optional(Text) });

const Settings = Obj({
  packageFileName: Type.Optional(Text),
  configFileName: Type.Optional(Text),
  scriptBehaviorAfterReboot: Type.Optional(ArmEnum(["None", "Rerun"] as const)),
});

const AdvancedSettings = Type.Record(Type.String({ maxLength: 256 }), Text, {
  maxProperties: 64,
});

const publishingFields = {
  manageActions: Type.Optional(Manage),
  settings: Type.Optional(Settings),
  advancedSettings: Type.Optional(AdvancedSettings),
  enableHealthCheck: Type.Optional(Type.Boolean()),
  customActions: Type.Optional(CustomActions),
  targetRegions: Type.Optional(Type.Array(TargetRegion, { maxItems: 100 })),
  targetExtendedLocations: Type.Optional(Type.Array(Type.Object({}), { maxItems: 100 })),
  replicaCount: Type.Optional(Count),
  excludeFromLatest: Type.Optional(Type.Boolean()),
  endOfLifeDate: Type.Optional(DateTime),
  storageAccountType: Type.Optional(StorageAccountType),
  replicationMode: Type.Optional(ArmEnum(["Full", "Shallow"] as const)),
};

const SafetyProfile = Obj({ allowDeletionOfReplicatedLocations: Type.Optional(Type.Boolean()) });

export const ApplicationVersionProperties = Obj({
  publishingProfile: Obj({
    source: Obj({ mediaLink: Link, defaultConfigurationLink: Type.Optional(Link) }),
    ...publishingFields,
  }),
  safetyProfile: Type.Optional(SafetyProfile),
});

export const ApplicationVersionPatchProperties = Obj({
  publishingProfile: Type.Optional(
    Obj({
      source: Type.Optional(
        Obj({ mediaLink: Type.Optional(Link), defaultConfigurationLink: Type.Optional(Link) }),
      ),
      ...publishingFields,
    }),
  ),
  safetyProfile: Type.Optional(SafetyProfile),
});
