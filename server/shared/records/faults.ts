import type { TSchema } from "@sinclair/typebox";
import { ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { isObject } from "./read.ts";

/**
 * What is wrong with a value a person sent against a record's schema, in the one wording every
 * fault gets (admin API and CLI alike): the field and the value, then how to write it. The
 * schemas carry the `fix`. Undefined when the value is valid.
 */
export function faultOf(
  schema: TSchema,
  value: unknown,
  label?: string,
  /** the text as typed on a command line, shown instead of the value it was read as */
  typed?: string,
): string | undefined {
  const error = Value.Errors(schema, value).First();
  if (!error) return undefined;
  const field = error.path.split("/").filter(Boolean).join(".");
  if (!field && schema.type === "object" && !isObject(value)) {
    return `Send a JSON body like ${JSON.stringify(schema.examples?.[0] ?? {})}.`;
  }
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const known = Object.keys(schema.properties ?? {});
    return `Unknown field ${field} — send only ${known.join(", ")}.`;
  }
  const name = field || label || "value";
  const fix = (error.schema as { fix?: string }).fix ?? error.message.toLowerCase();
  const shown = typed !== undefined && !field ? typed : error.value;
  return `${name} ${JSON.stringify(shown)} is not valid — ${fix}`;
}

/** A number typed on a command line is read as the number, anything else as the text. */
export const asTyped = (text: string): unknown =>
  /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;

/** faultOf for a value typed on a command line, which is shown as typed. */
export const typedFault = (schema: TSchema, text: string, label: string) =>
  faultOf(schema, asTyped(text), label, text);
