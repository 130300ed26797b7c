/** Wire schemas of gallery image versions (GalleryRP 2026-03-03). */
import { Type } from "@sinclair/typebox";
import { ArmEnum, Obj } from "./common.js";

const Id = Type.String({ minLength: 1, maxLength: 1024 });
const Uri = Type.String({ minLength: 1, maxLength: 4096 });
const DateTime = Type.String({ maxLength: 64 });
const Lun = Type.Integer({ minimum: 0, maximum: 2147483647 });
/** Range checks with Azure's wording happen in the rules; here only the type. */
export const Count = Type.Integer({ minimum: -2147483648, maximum: 2147483647 });

export const StorageAccountType = ArmEnum([
  "Standard_LRS",
  "Standard_ZRS",
  "Premium_LRS",
  "PremiumV2_LRS",
] as const);

const HostCaching = ArmEnum(["None", "ReadOnly", "ReadWrite"] as const);

const DiskEncryption = Obj({
  diskEncryptionSetId: Type.Optional(Id),
  securityProfile: Type.Optional(Type.Object({})),
});

export const TargetRegion = Obj({
  name: Type.String({ minLength: 1, maxLength: 64 }),
  regionalReplicaCount: Type.Optional(Count),
  storageAccountType: Type.Optional(StorageAccountType),
  excludeFromLatest: Type.Optional(Type.Boolean()),
  encryption: Type.Optional(
    Obj({
      osDiskImage: Type.Optional(DiskEncryption),
      dataDiskImages: Type.Optional(
        Type.Array(Obj({ lun: Lun, diskEncryptionSetId: Type.Optional(Id) }), { maxItems: 64 }),
      ),
    }),
  ),
});

const DiskSource = Obj({
  id: Type.Optional(Id),
  uri: Type.Optional(Uri),
  storageAccountId: Type.Optional(Id),
});

const OsDiskImage = Obj({
  hostCaching: Type.Optional(HostCaching),
  source: Type.Optional(DiskSource),
});

const DataDiskImage = Obj({
  lun: Lun,
  hostCaching: Type.Optional(HostCaching),
  source: Type.Optional(DiskSource),
});

const versionFields = {
  publishingProfile: Type.Optional(
    Obj({
      targetRegions: Type.Optional(Type.Array(TargetRegion, { maxItems: 100 })),
      targetExtendedLocations: Type.Optional(Type.Array(Type.Object({}), { maxItems: 100 })),
      replicaCount: Type.Optional(Count),
      excludeFromLatest: Type.Optional(Type.Boolean()),
      endOfLifeDate: Type.Optional(DateTime),
      storageAccountType: Type.Optional(StorageAccountType),
      replicationMode: Type.Optional(ArmEnum(["Full", "Shallow"] as const)),
    }),
  ),
  storageProfile: Type.Optional(
    Obj({
      source: Type.Optional(Obj({ id: Type.Optional(Id) })),
      osDiskImage: Type.Optional(OsDiskImage),
      dataDiskImages: Type.Optional(Type.Array(DataDiskImage, { maxItems: 64 })),
    }),
  ),
  safetyProfile: Type.Optional(
    Obj({
      allowDeletionOfReplicatedLocations: Type.Optional(Type.Boolean()),
      blockDeletionBeforeEndOfLife: Type.Optional(Type.Boolean()),
    }),
  ),
  securityProfile: Type.Optional(Type.Object({})),
};

export const ImageVersionProperties = Obj(versionFields);
export const ImageVersionPatchProperties = Obj(versionFields);
