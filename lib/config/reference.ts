/**
 * The config reference: every key of {@link SCHEMA} with its type, default and meaning, as
 * Markdown. `deno task experiment --keys` prints it and docs/config.md holds it (a test keeps the
 * file equal to this output), so the documentation cannot drift from the validator.
 * @module
 */
import { type FieldSpec, isField, SCHEMA, type SectionSpec } from "./schema.ts";

function typeText(f: FieldSpec): string {
  let t = f.type === "enum" ? (f.values ?? []).map((v) => `\`${v}\``).join(" \\| ") : f.type;
  if (f.min !== undefined || f.max !== undefined) {
    t += ` [${f.min ?? ""}, ${f.max ?? ""}]`;
  }
  if (f.length !== undefined) t += ` × ${f.length}`;
  if (f.nullable) t += " or null";
  return t;
}

function rows(spec: SectionSpec, path: string, out: string[]): void {
  for (const [key, s] of Object.entries(spec)) {
    const full = path ? `${path}.${key}` : key;
    if (isField(s)) {
      out.push(
        `| \`${full}\` | ${typeText(s)} | \`${JSON.stringify(s.default)}\` | ${
          s.doc.replaceAll("|", "\\|")
        } |`,
      );
    } else rows(s, full, out);
  }
}

/** Markdown table of every config key (dotted name, type and range, default, meaning). */
export function configReference(): string {
  const out = [
    "# Config keys",
    "",
    "Every key a config YAML (or `--set key=value`) accepts, generated from lib/config/schema.ts",
    "(`deno task experiment --keys` prints the same table). A config may `extends:` another file;",
    "keys it leaves out take the defaults below.",
    "",
    "| key | type | default | meaning |",
    "|---|---|---|---|",
  ];
  rows(SCHEMA, "", out);
  return out.join("\n") + "\n";
}
