/**
 * House rules on the code's shape (issue 30, nanoGPT's rule: a reader holds a function in their
 * head): no function in the covered folders is longer than its limit. {@link longFunctions} is
 * the check; {@link functionsIn} finds the functions of one file; {@link codeOnly} blanks what is
 * not code first, so a brace or the word `function` in a string, comment, template literal or
 * regular expression counts for nothing.
 * @module
 */
import { join, relative, resolve } from "node:path";
import { assertEquals } from "../lib/util/assert.ts";
import { ROOT } from "./permissions.ts";

/** One function found by {@link functionsIn}. */
export interface FunctionSpan {
  /** Its name (`<arrow>` for an unnamed arrow function). */
  name: string;
  /** The 1-based line it starts on: its `function` keyword, method name or arrow. */
  line: number;
  /** Lines from its first line to its closing brace, both included. */
  lines: number;
}

/** Characters after which a `/` starts a regular expression rather than a division. */
const BEFORE_REGEX = new Set("(,=:[!&|?{};+-*%<>~^".split(""));
/** Words after which a `/` starts a regular expression. */
const WORDS_BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
]);

/** The identifier ending just before `i` (spaces skipped), or "". */
function wordBefore(text: string, i: number): string {
  let j = i - 1;
  while (j >= 0 && /\s/.test(text[j])) j--;
  let k = j;
  while (k >= 0 && /[\w$]/.test(text[k])) k--;
  return text.slice(k + 1, j + 1);
}

/**
 * `text` with comments, the text of string and template literals, and regular-expression
 * literals replaced by spaces (newlines kept, so line numbers stay); the code inside a template's
 * `${…}` stays code.
 */
export function codeOnly(text: string): string {
  const out = text.split("");
  const blank = (i: number) => {
    if (i < out.length && out[i] !== "\n") out[i] = " ";
  };
  // Brace depth of the code inside each open `${`, innermost last.
  const templates: number[] = [];
  let last = ""; // the last code character that is not white space
  /** Blanks template text from `i` to the closing backtick or a `${`; returns where code resumes. */
  const templateText = (i: number): number => {
    for (; i < text.length; i++) {
      if (text[i] === "\\") {
        blank(i++);
        blank(i);
      } else if (text[i] === "`") return i + 1;
      else if (text[i] === "$" && text[i + 1] === "{") {
        blank(i);
        blank(i + 1);
        templates.push(0);
        return i + 2;
      } else blank(i);
    }
    return i;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i], d = text[i + 1];
    if (c === "/" && d === "/") {
      while (i < text.length && text[i] !== "\n") blank(i++);
    } else if (c === "/" && d === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      while (i < stop) blank(i++);
    } else if (c === '"' || c === "'") {
      for (i++; i < text.length && text[i] !== c && text[i] !== "\n"; i++) {
        if (text[i] === "\\") blank(i++);
        blank(i);
      }
      i++;
      last = c;
    } else if (c === "`") {
      i = templateText(i + 1);
      last = "`";
    } else if (
      c === "/" && (BEFORE_REGEX.has(last) || last === "" ||
        WORDS_BEFORE_REGEX.has(wordBefore(text, i)))
    ) {
      let inClass = false;
      for (i++; i < text.length && text[i] !== "\n"; i++) {
        if (text[i] === "\\") blank(i++);
        else if (text[i] === "[") inClass = true;
        else if (text[i] === "]") inClass = false;
        else if (text[i] === "/" && !inClass) break;
        blank(i);
      }
      i++;
      last = "/";
    } else if (c === "}" && templates.length && templates[templates.length - 1] === 0) {
      templates.pop();
      blank(i);
      i = templateText(i + 1);
      last = "`";
    } else {
      if (templates.length && c === "{") templates[templates.length - 1]++;
      if (templates.length && c === "}") templates[templates.length - 1]--;
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return out.join("");
}

/** The index of the bracket closing the one at `open` (`(`, `{`; counted forwards), or -1. */
function closing(code: string, open: number): number {
  const o = code[open], c = o === "(" ? ")" : "}";
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === o) depth++;
    else if (code[i] === c && --depth === 0) return i;
  }
  return -1;
}

/**
 * The index of the body's `{` after a parameter list closed at `close`, past a return type
 * (object types, generics and function types included), or -1 when there is no body (a
 * signature, an overload, a call).
 */
function bodyAfter(code: string, close: number): number {
  let depth = 0, prev = "", first = true;
  for (let i = close + 1; i < code.length && i < close + 4000; i++) {
    const c = code[i];
    if (/\s/.test(c)) continue;
    // Right after the parameters: a body, a return type or an arrow; anything else is a call.
    if (first && c !== "{" && c !== ":" && !(c === "=" && code[i + 1] === ">")) return -1;
    first = false;
    if (c === "=" && code[i + 1] === ">") {
      prev = "=>";
      i++;
      continue;
    }
    if (c === "{") {
      // A brace right after `:`, `|`, `&`, `,`, `<`, `(` or `=>` opens an object type.
      if (depth === 0 && !/^(?:[:|&,<(]|=>)$/.test(prev)) return i;
      const end = closing(code, i);
      if (end < 0) return -1;
      i = end;
      prev = "}";
      continue;
    }
    if ("([<".includes(c)) depth++;
    else if (")]>".includes(c)) {
      if (depth === 0) return -1;
      depth--;
    } else if (depth === 0 && (c === ";" || c === "," || c === "}" || c === "=")) return -1;
    prev = c;
  }
  return -1;
}

/** Words that start a line the way a method does but are statements or operators. */
const NOT_METHODS = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "return",
  "function",
  "with",
  "do",
  "else",
  "new",
  "typeof",
  "await",
  "yield",
  "super",
  "throw",
  "case",
  "delete",
  "void",
]);

/**
 * The functions of a TypeScript source with a block body: `function` declarations and
 * expressions, methods (classes and object literals) and arrow functions, nested ones included.
 */
export function functionsIn(text: string): FunctionSpan[] {
  const code = codeOnly(text);
  const lineAt = (i: number) => code.slice(0, i).split("\n").length;
  const found = new Map<number, FunctionSpan>(); // by the body's `{`
  const add = (name: string, start: number, body: number) => {
    const end = body < 0 ? -1 : closing(code, body);
    if (end < 0 || found.has(body)) return;
    found.set(body, { name, line: lineAt(start), lines: lineAt(end) - lineAt(start) + 1 });
  };
  const declared = /\bfunction\b\s*\*?\s*([A-Za-z_$][\w$]*)?\s*(?:<[^(]*?>)?\s*\(/g;
  for (const m of code.matchAll(declared)) {
    const open = m.index! + m[0].length - 1;
    add(m[1] ?? "<function>", m.index!, bodyAfter(code, closing(code, open)));
  }
  const modifiers = "(?:(?:public|private|protected|static|async|readonly|override|get|set)\\s+)*";
  const method = new RegExp(
    `^[ \\t]*${modifiers}\\*?\\s*(#?[A-Za-z_$][\\w$]*)\\s*(?:<[^(\\n]*>)?\\s*\\(`,
    "gm",
  );
  for (const m of code.matchAll(method)) {
    if (NOT_METHODS.has(m[1])) continue;
    const open = m.index! + m[0].length - 1;
    add(m[1], m.index! + m[0].indexOf(m[1]), bodyAfter(code, closing(code, open)));
  }
  for (const m of code.matchAll(/=>\s*\{/g)) {
    const before = code.slice(code.lastIndexOf("\n", m.index!) + 1, m.index!);
    const name = before.match(/([\w$]+)\s*(?::[^=]*)?=\s*(?:async\s*)?(?:\(|[\w$]+\s*$)/)?.[1] ??
      before.match(/([\w$]+)\s*:\s*(?:async\s*)?\(/)?.[1] ?? "<arrow>";
    add(name, m.index!, m.index! + m[0].length - 1);
  }
  return [...found.values()].sort((a, b) => a.line - b.line);
}

function* tsFiles(path: string): Generator<string> {
  if (Deno.statSync(path).isFile) {
    if (path.endsWith(".ts")) yield path;
    return;
  }
  for (const e of [...Deno.readDirSync(path)].sort((a, b) => a.name.localeCompare(b.name))) {
    yield* tsFiles(join(path, e.name));
  }
}

/**
 * Every function in the .ts files under `dir` (a folder or one file; relative to the
 * repository root) longer than `max` lines, counted from its first line to its closing brace,
 * as `path:line name (n lines)`; empty when all fit.
 */
export function longFunctions(dir: string, max: number): string[] {
  const out: string[] = [];
  for (const file of tsFiles(resolve(ROOT, dir))) {
    for (const f of functionsIn(Deno.readTextFileSync(file))) {
      if (f.lines > max) out.push(`${relative(ROOT, file)}:${f.line} ${f.name} (${f.lines} lines)`);
    }
  }
  return out;
}

Deno.test("the scan finds functions, methods and arrows and is not fooled by strings, comments, templates or regexes", () => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `  x += ${i};\n`).join("");
  const src = [
    "// function fake() { in a comment",
    "/* function fake2() { */",
    `const s = "function fake3() {", t = '}', u = \`\${"{"} function fake4() { \${ {a: 1}.a }\`;`,
    "const re = /[{}\"']function fake5() {/g;",
    "export async function decl(a: number, b: { c: string }): Promise<{ d: number }> {",
    body(3) + "}",
    "function* gen(): Generator<number> {\n  yield 1;\n}",
    "export function overload(a: string): string;",
    "class K {",
    "  private method(x: number): { y: number } {",
    body(2) + "  }",
    "  constructor(readonly z: number) {}",
    "}",
    "const arrow = async (p: number): Promise<void> => {",
    body(1) + "};",
    "call(x => {\n  if (x) {\n    return;\n  }\n});",
    "",
  ].join("\n");
  const got = functionsIn(src).map((f) => `${f.name}:${f.line}:${f.lines}`);
  assertEquals(got, [
    "decl:5:5",
    "gen:10:3",
    "method:15:4",
    "constructor:19:1",
    "arrow:21:3",
    "<arrow>:24:5",
  ]);
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(join(dir, "a.ts"), `function long() {\n${body(79)}}\n`);
  Deno.writeTextFileSync(join(dir, "b.ts"), `function fits() {\n${body(78)}}\n`);
  assertEquals(longFunctions(dir, 80).map((s) => s.replace(/^.*\//, "")), [
    "a.ts:1 long (81 lines)",
  ]);
});

Deno.test("no function in lib/train is over 80 lines", () => {
  assertEquals(longFunctions("lib/train", 80), []);
});

Deno.test("no function in lib/experiment is over 80 lines", () => {
  assertEquals(longFunctions("lib/experiment", 80), []);
});

// The runner is a recipe (issue 30): the run folder, the run's files and its record live in
// lib/results (run_folder.ts, run_files.ts, run_record.ts), the split in lib/experiment/split.ts.
Deno.test("lib/experiment/run.ts is at most 350 lines", () => {
  const lines = Deno.readTextFileSync(join(ROOT, "lib/experiment/run.ts")).split("\n").length - 1;
  assertEquals(lines <= 350, true, `lib/experiment/run.ts has ${lines} lines`);
});
