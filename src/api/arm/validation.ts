/**
 * Request validation compiled on first use. Fastify compiles every route's schema before the
 * server listens — a quarter of a second for ours, most of our start-up; compiling on a route's
 * first request moves that cost off the start. Options are Fastify's defaults, except that types
 * are never coerced (a string is not a number to Azure either) and no defaults are injected.
 * Undeclared properties are dropped, as Azure's deserializer ignores them. Schemas are not checked
 * against the JSON Schema meta-schema: they are ours, built by TypeBox, and Ajv's strict mode still
 * refuses unknown keywords; the check made a route's first request compile the meta-schema's own
 * validator (~60 ms, the first time) and run it (~20 ms).
 */
import { Ajv, type ValidateFunction } from "ajv";
import { armEnumKeyword } from "./ajv-arm-enum.js";

type Validate = ((data: unknown) => boolean) & { errors?: ValidateFunction["errors"] };

export function lazyValidatorCompiler() {
  const ajv = armEnumKeyword(
    new Ajv({
      coerceTypes: false,
      useDefaults: false,
      removeAdditional: true,
      allErrors: false,
      addUsedSchema: false,
      validateSchema: false,
    }),
  );
  return ({ schema }: { schema: object }): Validate => {
    let compiled: ValidateFunction | undefined;
    const validate: Validate = (data) => {
      compiled ??= ajv.compile(schema);
      const valid = compiled(data);
      validate.errors = compiled.errors;
      return valid;
    };
    return validate;
  };
}
