/**
 * AJV keyword `armEnum`: a string enum matched case-insensitively (Azure's deserializer does) that
 * rewrites the value to Azure's spelling, so stored and echoed values are canonical.
 */
import type { Ajv } from "ajv";
import type { DataValidationCxt } from "ajv/dist/types/index.js";

export function armEnumKeyword(ajv: Ajv): Ajv {
  ajv.addKeyword({
    keyword: "armEnum",
    type: "string",
    schemaType: "array",
    modifying: true,
    errors: true,
    validate: function validate(
      this: unknown,
      allowed: string[],
      data: string,
      _parentSchema?: unknown,
      cxt?: DataValidationCxt,
    ): boolean {
      const canonical = allowed.find((v) => v.toLowerCase() === data.toLowerCase());
      if (canonical === undefined) {
        (validate as unknown as { errors: unknown[] }).errors = [
          {
            keyword: "armEnum",
            message: `The value '${data.slice(0, 100)}' is not valid. Allowed values: ${allowed.join(", ")}`,
            params: { allowedValues: allowed },
          },
        ];
        return false;
      }
      if (cxt && cxt.parentData && cxt.parentDataProperty !== undefined) {
        (cxt.parentData as Record<string | number, unknown>)[cxt.parentDataProperty] = canonical;
      }
      return true;
    },
  });
  return ajv;
}
