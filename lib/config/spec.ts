/**
 * How a config key is declared (a {@link FieldSpec}: type, default, range, meaning) and the
 * TypeScript value each declaration stands for ({@link ValueOf}). The sections in
 * lib/config/sections/ and the sweep file's keys are declared with these; the loader validates
 * against them and the Markdown, JSON Schema and TypeScript renderings are generated from them.
 * @module
 */

/** Type and constraints of one config key. */
export interface FieldSpec {
  /**
   * Value type; "int[]" and "number[]" are lists; "any" is kept as written for the caller to
   * check (a sweep's free mapping of overrides, its list of variants).
   */
  type: "int" | "number" | "bool" | "string" | "enum" | "int[]" | "number[]" | "string[]" | "any";
  /** Value used when the key is absent. */
  default: unknown;
  /** Meaning of the key, shown by `--help` and in the docs. */
  doc: string;
  /** Inclusive lower bound of a number (of each element for lists). */
  min?: number;
  /** Inclusive upper bound of a number (of each element for lists). */
  max?: number;
  /** Allowed values for enums. */
  values?: readonly (string | number)[];
  /** An explicit null is allowed (and kept). */
  nullable?: boolean;
  /** Exact length for arrays. */
  length?: number;
  /**
   * Added after results were published: the key is left out of the config hash while it holds
   * its default, so those results keep their hash (and sweeps still find their finished runs).
   */
  hashOnlyIfSet?: boolean;
}

/** A section of the config: a map of keys to field specs or nested sections. */
export type SectionSpec = { [key: string]: FieldSpec | SectionSpec };

/** True if `s` is a leaf field spec rather than a section. */
export function isField(s: FieldSpec | SectionSpec): s is FieldSpec {
  return typeof (s as FieldSpec).type === "string" && "doc" in s;
}

/** `N` copies of `T` as a tuple (a list key with a fixed `length`). */
type Tuple<T, N extends number, Acc extends T[] = []> = number extends N ? T[]
  : Acc["length"] extends N ? Acc
  : Tuple<T, N, [...Acc, T]>;

/** A list key's value: a tuple when its length is fixed. */
type ListOf<T, F> = F extends { length: infer N extends number } ? Tuple<T, N> : T[];

/** The value a validated field holds, before `nullable`. */
type BaseValue<F> = F extends { type: "int" | "number" } ? number
  : F extends { type: "bool" } ? boolean
  : F extends { type: "string" } ? string
  : F extends { type: "enum"; values: readonly (infer V)[] } ? V
  : F extends { type: "int[]" | "number[]" } ? ListOf<number, F>
  : F extends { type: "string[]" } ? string[]
  : unknown;

/** The value a validated field holds: its type, or null as well where it is nullable. */
export type FieldValue<F> = F extends { nullable: true } ? BaseValue<F> | null : BaseValue<F>;

/**
 * The validated value of a declaration: a field's value, or a section's keys mapped to theirs.
 * Applied to a declaration written `as const satisfies SectionSpec` it gives the exact config
 * type (enums as unions of their values, fixed-length lists as tuples, nullable as `| null`).
 */
export type ValueOf<S> = S extends FieldSpec ? FieldValue<S>
  : { -readonly [K in keyof S]: ValueOf<S[K]> };

/** An array type as the readonly one an `as const` default has. */
type AsConst<T> = T extends unknown[] ? Readonly<T> : T;

/**
 * The dotted keys of `S` whose default is not a value of their declared type (never when all
 * fit): `const ok: BadDefaults<typeof X> extends never ? true : …` makes a wrong default a
 * compile error that names the key.
 */
export type BadDefaults<S, P extends string = ""> = {
  [K in keyof S & string]: S[K] extends FieldSpec
    ? (S[K]["default"] extends AsConst<FieldValue<S[K]>> ? never : `${P}${K}`)
    : BadDefaults<S[K], `${P}${K}.`>;
}[keyof S & string];
