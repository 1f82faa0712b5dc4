/**
 * The config's TypeScript types, generated from its declaration ({@link SCHEMA}) as the Markdown
 * reference and the JSON Schema are: lib/config/types.ts holds this output (a test keeps it
 * equal, and schema.ts checks at compile time that it matches the declaration's derived type).
 * Regenerate with `deno run lib/config/typescript.ts > lib/config/types.ts`.
 *
 * Why generated rather than only a mapped type: `deno doc --lint` wants every type a public
 * signature names exported from that entry point, so a mapped `ValueOf<typeof DATA_SECTION>`
 * would pull the machinery and the declarations into every entry point that exports the config
 * type; the generated interfaces are plain, carry each key's doc as JSDoc, and reference nothing.
 * @module
 */
import { type FieldSpec, isField, SCHEMA, SECTION_DOCS, type SectionSpec } from "./schema.ts";

const WIDTH = 100;

/** The TypeScript type of a field's validated value. */
function typeOf(f: FieldSpec): string {
  let t: string;
  switch (f.type) {
    case "int":
    case "number":
      t = "number";
      break;
    case "bool":
      t = "boolean";
      break;
    case "string":
      t = "string";
      break;
    case "enum":
      t = (f.values ?? []).map((v) => JSON.stringify(v)).join(" | ");
      break;
    case "int[]":
    case "number[]":
      t = f.length === undefined ? "number[]" : `[${Array(f.length).fill("number").join(", ")}]`;
      break;
    case "string[]":
      t = "string[]";
      break;
    case "any":
      t = "unknown";
      break;
  }
  return f.nullable ? `${t} | null` : t;
}

/** A field's JSDoc text: its meaning, then default and range as the reference shows them. */
function fieldDoc(f: FieldSpec): string {
  const range = f.min !== undefined || f.max !== undefined
    ? `; range [${f.min ?? ""}, ${f.max ?? ""}]`
    : "";
  return `${f.doc}. Default \`${JSON.stringify(f.default)}\`${range}.`;
}

/** A JSDoc comment at `indent`, on one line if it fits, else wrapped to {@link WIDTH}. */
function jsdoc(text: string, indent: string): string[] {
  const safe = text.replaceAll("*/", "*\\/");
  const one = `${indent}/** ${safe} */`;
  if (one.length <= WIDTH) return [one];
  const lines: string[] = [];
  let cur = "";
  for (const word of safe.split(/\s+/)) {
    if (cur && `${indent} * ${cur} ${word}`.length > WIDTH) {
      lines.push(`${indent} * ${cur}`);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(`${indent} * ${cur}`);
  return [`${indent}/**`, ...lines, `${indent} */`];
}

/** The members of a section's object type, one per key, each with its JSDoc. */
function members(spec: SectionSpec, indent: string, path: string): string[] {
  const out: string[] = [];
  for (const [key, s] of Object.entries(spec)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(key)) {
      throw new Error(`config key "${path}${key}" is no identifier`);
    }
    if (isField(s)) {
      out.push(...jsdoc(fieldDoc(s), indent), `${indent}${key}: ${typeOf(s)};`);
    } else {
      out.push(
        ...jsdoc(SECTION_DOCS[`${path}${key}`] ?? `The \`${path}${key}:\` section.`, indent),
        `${indent}${key}: {`,
        ...members(s, indent + "  ", `${path}${key}.`),
        `${indent}};`,
      );
    }
  }
  return out;
}

/** `data` → `DataSection`. */
function sectionTypeName(key: string): string {
  return key.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("") + "Section";
}

/** The source of lib/config/types.ts: `ExperimentConfig` and a named type per section. */
export function configTypesSource(): string {
  const out = [
    "/**",
    " * The config's TypeScript types. GENERATED from the declaration in lib/config/schema.ts and",
    " * lib/config/sections/ by lib/config/typescript.ts: do not edit; regenerate with",
    " * `deno run lib/config/typescript.ts > lib/config/types.ts`.",
    " * @module",
    " */",
    "",
    "/** The resolved, validated config: every key, defaults filled in. */",
    "export interface ExperimentConfig {",
    ...members(SCHEMA, "  ", ""),
    "}",
  ];
  for (const [key, s] of Object.entries(SCHEMA)) {
    if (isField(s)) continue;
    out.push(
      "",
      ...jsdoc(
        `The \`${key}:\` section of the config. ${SECTION_DOCS[key] ?? ""}`.trim(),
        "",
      ),
      `export type ${sectionTypeName(key)} = ExperimentConfig[${JSON.stringify(key)}];`,
    );
  }
  return out.join("\n") + "\n";
}

if (import.meta.main) {
  console.log(configTypesSource().trimEnd());
}
