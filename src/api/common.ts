// The pieces every answer shape of the native API is built from. The shapes in src/api/ are the
// one description of what the native API answers: the routes declare them as their `response`
// schemas (so /openapi.json shows them and the serializer writes them), the console and the CLI
// read their types from them (`Static<typeof UpgradeDetailOut>`), and a test checks every route's
// real answers against them (test/api/response-schemas.test.ts). Enums come from the lists in
// src/domain, so a state list exists once.
//
// A field a shape does not name is dropped by the serializer, so a shape names every field its
// route answers; an object that is open by nature (labels, options, a driver's progress) says so
// with a record or `additionalProperties: true`.
import { Type, type SchemaOptions, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';

/**
 * One of the values of a domain list, e.g. `literalUnion(UPGRADE_STATES)`: an anyOf of constants
 * in the schema, the union of the values in its static type.
 */
export function literalUnion<const T extends readonly string[]>(
  values: T,
  options: SchemaOptions = {},
): TUnion<[TLiteral<T[number]>]> {
  // typed as one literal of the whole union, so its static type is T[number] for any list
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<[TLiteral<T[number]>]>;
}

export const Nullable = <T extends TSchema>(t: T, options: SchemaOptions = {}) => Type.Union([t, Type.Null()], options);

/** an ISO-8601 UTC time, e.g. 2026-05-01T02:00:00.000Z */
export const Time = (options: SchemaOptions = {}) => Type.String({ format: 'date-time', ...options });

/** an object of any fields (a driver's options, a step's params, an event's data) */
export const AnyObject = (options: SchemaOptions = {}) => Type.Record(Type.String(), Type.Unknown(), options);

/** The error envelope of the native API (docs/api.md, docs/errors.md). */
export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'stable code from the error catalogue (docs/errors.md)' }),
    message: Type.String({ description: 'what went wrong and what to do; a validation error names every problem' }),
    details: Type.Optional(
      AnyObject({ description: 'per code: e.g. errors (every validation problem: path, message), requestId on a 5xx' }),
    ),
  }),
});

/** Every error a native route answers is in the envelope; the status codes are in docs/errors.md. */
export const errorResponses = { '4xx': ErrorBody, '5xx': ErrorBody };

/** one page of a list: the items, the total that match, and the page asked for */
export const Page = <T extends TSchema>(item: T, description?: string) =>
  Type.Object({
    items: Type.Array(item, description ? { description } : {}),
    total: Type.Integer({ minimum: 0 }),
    limit: Type.Integer(),
    offset: Type.Integer(),
  });

/** a list of events, with how far back event retention has deleted them */
export const EventPage = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    prunedThrough: Type.Optional(
      Type.Integer({ description: 'the newest event id that event retention deleted, when the list reaches back before it' }),
    ),
  });
