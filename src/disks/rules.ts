/**
 * Managed disks and snapshots as `KindRules`: creation options (Empty, Upload, Copy), the sizes
 * and states Azure shows. What is not a property on the wire (the SKU and zones, shown beside
 * `properties`; the open access grant, the copy source resolved by `DiskService` and the storage
 * location, never shown) is kept in properties under `_`-prefixed keys, which the api layer never
 * renders as properties.
 *
 * Disk states: Empty and Copy disks start `Unattached`; Upload disks `ReadyToUpload`, then
 * `ActiveUpload` while a Write grant is open, `Unattached` once sealed; a Read grant makes a disk
 * `ActiveSAS` until it is revoked.
 */
import { randomUUID } from "node:crypto";
import { ConflictError, ValidationError } from "../domain/errors.js";
import { TYPES } from "../domain/ids.js";
import type { KindRules, Properties } from "../domain/resource-service.js";
import {
  AZURE_MAX_DISK_BYTES,
  AZURE_MIN_DISK_BYTES,
  MIB,
  VHD_FOOTER_SIZE,
} from "../formats/vhd.js";

export const GIB = 1024 * MIB;
/** Largest managed disk, as Azure allows (32,767 GiB). */
export const MAX_DISK_GB = 32767;

export type DiskState = "Unattached" | "ReadyToUpload" | "ActiveUpload" | "ActiveSAS";

/** An open access grant: what its SAS is bound to. */
export interface AccessGrant {
  id: string;
  mode: "Read" | "Write";
  expiresAt: string;
}

/** What `DiskService` resolves about a Copy's source before the rules run. */
export interface CopySource {
  id: string;
  uniqueId: string;
  diskSizeBytes: number;
  osType?: string;
  hyperVGeneration?: string;
  /** For FromImage: the reference as the client gave it. */
  imageReference?: { id: string; lun?: number };
}

const DISK_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$/;

export const isDiskType = (type: string) =>
  type.toLowerCase() === TYPES.disk.toLowerCase() ||
  type.toLowerCase() === TYPES.snapshot.toLowerCase();

function checkDiskName(name: string, parameter: string) {
  if (!DISK_NAME.test(name) || name.endsWith(".")) {
    throw new ValidationError(
      "InvalidParameter",
      `The entity name '${parameter}' is invalid according to its validation rule: ^[^_\\W][\\w-._]{0,79}(?<![-.])$.`,
      parameter,
    );
  }
}

/** Bytes of content a disk's blob holds: the disk itself and the fixed-VHD footer. */
export const blobSizeOf = (properties: Properties) =>
  (properties.diskSizeBytes as number) + VHD_FOOTER_SIZE;

export const diskStateOf = (properties: Properties) => properties.diskState as DiskState;
export const accessOf = (properties: Properties) => properties._access as AccessGrant | undefined;

function creation(input: Properties, snapshot: boolean) {
  const data = (input.creationData ?? {}) as Properties;
  const option = data.createOption as string | undefined;
  if (!option) {
    throw new ValidationError(
      "InvalidParameter",
      "Required parameter 'creationData.createOption' is missing (null).",
      "properties.creationData.createOption",
    );
  }
  const source = input._source as CopySource | undefined;
  switch (option) {
    case "Empty": {
      if (snapshot) break;
      const gb = input.diskSizeGB as number | undefined;
      if (gb === undefined) {
        throw new ValidationError(
          "InvalidParameter",
          "Required parameter 'diskSizeGB' is missing (null).",
          "properties.diskSizeGB",
        );
      }
      checkDiskSizeGB(gb);
      return { creationData: { createOption: "Empty" }, bytes: gb * GIB, state: "Unattached" };
    }
    case "Upload": {
      const total = data.uploadSizeBytes as number | undefined;
      if (total === undefined) {
        throw new ValidationError(
          "InvalidParameter",
          "Required parameter 'creationData.uploadSizeBytes' is missing (null).",
          "properties.creationData.uploadSizeBytes",
        );
      }
      const diskBytes = total - VHD_FOOTER_SIZE;
      if (!Number.isSafeInteger(total) || diskBytes % MIB !== 0) {
        throw new ValidationError(
          "BadRequest",
          `The upload size in bytes ${total} - 512 bytes for the VHD footer (${diskBytes} in this case) must be a multiple of MiB.`,
          "properties.creationData.uploadSizeBytes",
        );
      }
      if (diskBytes < AZURE_MIN_DISK_BYTES || diskBytes > AZURE_MAX_DISK_BYTES) {
        throw new ValidationError(
          "BadRequest",
          `The upload size in bytes ${total} is invalid. It must be between ${AZURE_MIN_DISK_BYTES + VHD_FOOTER_SIZE} bytes (20 MiB + 512 bytes for the VHD footer) and ${AZURE_MAX_DISK_BYTES + VHD_FOOTER_SIZE} bytes (32 TiB + 512 bytes for the VHD footer).`,
          "properties.creationData.uploadSizeBytes",
        );
      }
      return {
        creationData: { createOption: "Upload", uploadSizeBytes: total },
        bytes: diskBytes,
        state: "ReadyToUpload",
      };
    }
    case "Copy": {
      if (!source) {
        throw new ValidationError(
          "InvalidParameter",
          "Required parameter 'creationData.sourceResourceId' is missing (null).",
          "properties.creationData.sourceResourceId",
        );
      }
      return {
        creationData: {
          createOption: "Copy",
          sourceResourceId: source.id,
          sourceUniqueId: source.uniqueId,
        },
        bytes: sizeOfCopy(input, source.diskSizeBytes),
        state: "Unattached",
      };
    }
    case "FromImage": {
      if (!source?.imageReference) break;
      return {
        creationData: { createOption: "FromImage", galleryImageReference: source.imageReference },
        bytes: sizeOfCopy(input, source.diskSizeBytes),
        state: "Unattached",
      };
    }
  }
  throw new ValidationError(
    "InvalidParameter",
    `Create option '${option}' is not supported here; use Empty, Upload, Copy or FromImage.`,
    "properties.creationData.createOption",
  );
}

/**
 * A Copy or FromImage disk has its source's size, or the larger `diskSizeGB` asked for (Azure grows
 * the disk; `DiskService` makes the grown content). Asking for the source's size rounded up to a
 * GiB, as Azure shows it, keeps the source's exact size.
 */
export function sizeOfCopy(input: Properties, sourceBytes: number): number {
  const gb = input.diskSizeGB as number | undefined;
  const sourceGb = Math.ceil(sourceBytes / GIB);
  if (gb === undefined || gb === sourceGb) return sourceBytes;
  checkDiskSizeGB(gb);
  if (gb < sourceGb) {
    throw new ValidationError(
      "BadRequest",
      `The disk size ${gb} GB is smaller than its source's ${sourceGb} GB. Give at least ${sourceGb} GB, or leave 'diskSizeGB' out.`,
      "properties.diskSizeGB",
    );
  }
  return gb * GIB;
}

function checkDiskSizeGB(gb: number) {
  if (!Number.isInteger(gb) || gb < 1 || gb > MAX_DISK_GB) {
    throw new ValidationError(
      "InvalidParameter",
      `Disk size ${gb} GB is invalid. The size must be between 1 and ${MAX_DISK_GB} GB.`,
      "properties.diskSizeGB",
    );
  }
}

/**
 * A resize: only larger, whole GiB, and only while nothing has the disk open (an upload, or a read
 * grant whose reader would see the size change under it). The disk reads from its own grown
 * content from then on, not from its image's replicas.
 */
function resized(before: Properties, gb: number, snapshot: boolean): Properties {
  checkDiskSizeGB(gb);
  const current = before.diskSizeGB as number;
  if (gb < current) {
    throw new ValidationError(
      "BadRequest",
      `Disk size can only be increased: ${gb} GB is less than the current ${current} GB.`,
      "properties.diskSizeGB",
    );
  }
  const state = diskStateOf(before);
  if (state !== "Unattached") {
    const what = snapshot ? "snapshot" : "disk";
    const fix =
      state === "ActiveSAS"
        ? "revoke its access (endGetAccess) first"
        : "finish its upload (endGetAccess) first";
    throw new ConflictError(
      "OperationNotAllowed",
      `The ${what} cannot be resized while it is in state '${state}': ${fix}.`,
      "properties.diskSizeGB",
    );
  }
  const { _image: _, ...rest } = before;
  return {
    ...rest,
    diskSizeGB: gb,
    diskSizeBytes: gb * GIB,
    ...(snapshot ? {} : performanceOf(skuNameOf(before), gb)),
  };
}

function diskRules(snapshot: boolean): KindRules {
  const type = snapshot ? TYPES.snapshot : TYPES.disk;
  const nameParameter = snapshot ? "snapshotName" : "diskName";
  return {
    type,
    nameParameter,
    checkName: (name) => checkDiskName(name, nameParameter),
    create(input, ctx) {
      const { creationData, bytes, state } = creation(input, snapshot);
      const source = input._source as CopySource | undefined;
      const sku = (input._sku as { name?: string } | undefined)?.name ?? "Standard_LRS";
      const now = ctx.now.toISOString();
      const out: Properties = {
        _sku: skuOf(sku),
        _image: input._image,
        _zones: input._zones,
        _storageLocation: input._storageLocation,
        osType: input.osType ?? source?.osType,
        hyperVGeneration: input.hyperVGeneration ?? source?.hyperVGeneration,
        creationData,
        diskSizeGB: Math.ceil(bytes / GIB),
        ...(snapshot ? {} : performanceOf(sku, Math.ceil(bytes / GIB))),
        encryption: { type: "EncryptionAtRestWithPlatformKey" },
        ...(snapshot ? { incremental: input.incremental ?? false } : {}),
        networkAccessPolicy: input.networkAccessPolicy ?? "AllowAll",
        publicNetworkAccess: input.publicNetworkAccess ?? "Enabled",
        timeCreated: now,
        diskState: state,
        diskSizeBytes: bytes,
        uniqueId: randomUUID(),
      };
      return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
    },
    replace(existing, input) {
      const before = existing.properties;
      const given = (input.creationData ?? {}) as Properties;
      const was = before.creationData as Properties;
      if (given.createOption !== undefined && given.createOption !== was.createOption) {
        throw new ConflictError(
          "PropertyChangeNotAllowed",
          "Changing property 'creationData.createOption' is not allowed.",
          "properties.creationData.createOption",
        );
      }
      const zones = input._zones as string[] | undefined;
      if (
        zones !== undefined &&
        zones.join(",") !== ((before._zones as string[]) ?? []).join(",")
      ) {
        throw new ConflictError(
          "PropertyChangeNotAllowed",
          "Changing property 'zones' is not allowed.",
          "zones",
        );
      }
      const gb = input.diskSizeGB as number | undefined;
      const out: Properties =
        gb !== undefined && gb !== before.diskSizeGB
          ? resized(before, gb, snapshot)
          : { ...before };
      for (const key of [
        "osType",
        "hyperVGeneration",
        "networkAccessPolicy",
        "publicNetworkAccess",
      ]) {
        if (input[key] !== undefined) out[key] = input[key];
      }
      if (input._sku) {
        const sku = (input._sku as { name: string }).name;
        out._sku = skuOf(sku);
        if (!snapshot) {
          delete out.diskIOPSReadWrite;
          delete out.diskMBpsReadWrite;
          delete out.tier;
          Object.assign(out, performanceOf(sku, out.diskSizeGB as number));
        }
      }
      return out;
    },
  };
}

/**
 * A disk's provisioned performance as Azure reports it for its SKU and size: IOPS and MB/s of the
 * size tier, and for Premium SSD the tier's name (`P3` for 10 GiB, as recorded by az). PremiumV2
 * shows its baseline; Ultra disks, whose performance is chosen at creation, show none.
 */
function performanceOf(sku: string, gib: number): Properties {
  const pick = (table: [maxGiB: number, iops: number, mbps: number, tier?: string][]) =>
    table.find(([max]) => gib <= max) ?? table.at(-1)!;
  if (sku.startsWith("Premium_")) {
    const [, iops, mbps, tier] = pick([
      [4, 120, 25, "P1"],
      [8, 120, 25, "P2"],
      [16, 120, 25, "P3"],
      [32, 120, 25, "P4"],
      [64, 240, 50, "P6"],
      [128, 500, 100, "P10"],
      [256, 1100, 125, "P15"],
      [512, 2300, 150, "P20"],
      [1024, 5000, 200, "P30"],
      [2048, 7500, 250, "P40"],
      [4096, 7500, 250, "P50"],
      [8192, 16000, 500, "P60"],
      [16384, 18000, 750, "P70"],
      [32767, 20000, 900, "P80"],
    ]);
    return { diskIOPSReadWrite: iops, diskMBpsReadWrite: mbps, tier };
  }
  if (sku.startsWith("StandardSSD_")) {
    const [, iops, mbps] = pick([
      [4096, 500, 60],
      [8192, 2000, 400],
      [16384, 4000, 600],
      [32767, 6000, 750],
    ]);
    return { diskIOPSReadWrite: iops, diskMBpsReadWrite: mbps };
  }
  if (sku.startsWith("Standard_")) {
    const [, iops, mbps] = pick([
      [4096, 500, 60],
      [8192, 1300, 300],
      [32767, 2000, 500],
    ]);
    return { diskIOPSReadWrite: iops, diskMBpsReadWrite: mbps };
  }
  if (sku === "PremiumV2_LRS") return { diskIOPSReadWrite: 3000, diskMBpsReadWrite: 125 };
  return {};
}

const skuNameOf = (properties: Properties) =>
  (properties._sku as { name?: string } | undefined)?.name ?? "Standard_LRS";

function skuOf(name: string) {
  const tier = name.startsWith("Premium")
    ? "Premium"
    : name.startsWith("UltraSSD")
      ? "Ultra"
      : "Standard";
  return { name, tier };
}

export const diskKindRules = () => diskRules(false);
export const snapshotKindRules = () => diskRules(true);
