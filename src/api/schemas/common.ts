/**
 * Wire schemas shared by resource kinds. Objects drop properties they don't declare (read-only
 * ones a client echoes back from a GET, or ones newer than us), as Azure's deserializer ignores them;
 * declared ones are type-checked strictly. Enums match case-insensitively and are stored in Azure's
 * spelling (the `armEnum` keyword, see api/arm/ajv-arm-enum.ts).
 */
import { Type, type TSchema } from "@sinclair/typebox";

export const Obj = <T extends Record<string, TSchema>>(props: T) =>
  Type.Object(props, { additionalProperties: false });

export const ArmEnum = <const V extends readonly string[]>(values: V) =>
  Type.Unsafe<V[number]>({ type: "string", armEnum: values });

const TagValue = Type.String({ maxLength: 256 });
/** `additionalProperties` too: the record's `^(.*)$` misses names with a line break (U+2028…). */
export const Tags = Type.Record(Type.String(), TagValue, { additionalProperties: TagValue });

export const Location = Type.String({ minLength: 1, maxLength: 64 });

export const OsType = ArmEnum(["Windows", "Linux"] as const);

/** The body of a tracked-resource PUT: ARM's envelope around the kind's properties. */
export const TrackedPut = <P extends TSchema>(properties: P, required: boolean) =>
  Type.Object(
    {
      location: Location,
      tags: Type.Optional(Tags),
      properties: required ? properties : Type.Optional(properties),
    },
    { additionalProperties: false },
  );

export const TrackedPatch = <P extends TSchema>(properties: P) =>
  Type.Object(
    { tags: Type.Optional(Tags), properties: Type.Optional(properties) },
    { additionalProperties: false },
  );
