/**
 * The README's commands run as printed. Every `deno task X …` / `npx -y deno@2.9.6 task X …` line
 * of its sh/bash code blocks, and every command of its Commands table, is checked without
 * training anything:
 *
 * - X is a task of deno.json;
 * - every `--flag` is one that `deno task X --help` lists (so a renamed flag fails here);
 * - every `--set key=value` names a config key;
 * - `--model <m>` is a released model (lib/registry/released.ts) or a path checked as below, and
 *   a field-context released model is given `--context`;
 * - a path argument inside the repository (configs/…, results/…, models/…, docs/…) exists; a
 *   placeholder (`<…>`, `vN`) ends the part that is checked (its folder must exist).
 *
 * Rule for outputs of earlier commands: paths under `scratch/` are the run and data folders the
 * README's own commands write (`deno task catalog synthetic scratch/…`, experiment runs), so they
 * are not required to exist. Paths outside the repository's folders (`cutouts/`, `p.csv`) are the
 * user's. Also: the README is at most 10 KB, the PATH line after the first two commands puts this
 * Deno on PATH in a fresh bash, every command the README says takes `--help` prints a usage line
 * and exits 0, and the npm install scripts Deno would warn about are denied in deno.json.
 * @module
 */
import { assert, assertEquals } from "../lib/util/assert.ts";
import { join } from "node:path";
import { parseOverride, validateConfig } from "../lib/config/load.ts";
import { RELEASED, releasedModel } from "../lib/registry/released.ts";
import { describeReleased } from "../lib/registry/describe.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const README = Deno.readTextFileSync(join(ROOT, "README.md"));
const TASKS: Record<string, string> = JSON.parse(
  Deno.readTextFileSync(join(ROOT, "deno.json")),
).tasks;

/** Tasks that are plain Deno commands (`deno test`, fmt + lint + check): no `--help` of ours. */
const PLAIN_TASKS = ["test", "check"];
/** Top-level folders of the repository whose paths a command line must name correctly. */
const REPO_FOLDERS = ["configs/", "results/", "models/", "docs/", "bench/", "tests/", "native/"];
/** Flags whose value is a file the command writes, not one it reads. */
const OUTPUT_FLAGS = ["--out", "--errors"];

/** One command found in the README. */
interface Command {
  /** The task name (X of `deno task X`). */
  task: string;
  /** The words after the task name. */
  args: string[];
  /** Where it was found, for messages. */
  source: string;
  /** A table's template (`<config> [--set k=v]`): flags are checked, not their values. */
  template?: boolean;
}

/** Splits a shell line into words (single and double quotes kept together, no expansion). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = "", quote: string | null = null, any = false;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      any = true;
    } else if (/\s/.test(c)) {
      if (any || cur) words.push(cur);
      cur = "";
      any = false;
    } else if (c === "#" && !cur && !any) {
      break; // a comment
    } else cur += c;
  }
  if (any || cur) words.push(cur);
  return words;
}

/** The lines of the README's sh/bash code blocks, continuation lines joined. */
function codeLines(md: string): string[] {
  const out: string[] = [];
  for (const m of md.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)) {
    const joined = m[1].replace(/\\\n\s*/g, " ");
    out.push(...joined.split("\n").filter((l) => l.trim() !== ""));
  }
  return out;
}

/** `deno task X …` or `npx -y deno@2.9.6 task X …` as a command; null for other lines. */
function asCommand(words: string[], source: string): Command | null {
  const at = words[0] === "deno" ? 1 : words[0] === "npx" && words[2] === "deno@2.9.6" ? 3 : -1;
  if (at < 0 || words[at] !== "task" || words.length <= at + 1) return null;
  return { task: words[at + 1], args: words.slice(at + 2), source };
}

/** Every command of the README's code blocks. */
function blockCommands(): Command[] {
  return codeLines(README).map((l) => asCommand(shellWords(l), l)).filter((c) => c !== null);
}

/**
 * The Commands table's rows: the first cell's `deno task X …` template, with the flags named in
 * any code span of the row (a description's `--publish` is a flag of the same command).
 */
function tableCommands(): Command[] {
  const out: Command[] = [];
  for (const row of README.split("\n").filter((l) => l.startsWith("| `deno task "))) {
    const spans = [...row.matchAll(/`([^`]+)`/g)].map((m) => m[1].replace(/\\\|/g, "|"));
    for (const span of spans.filter((s) => s.startsWith("deno task "))) {
      const flags = spans.flatMap((s) => s.match(/--[a-z][a-z0-9-]*/g) ?? []);
      const words = shellWords(span.replace(/[[\]]/g, " "));
      out.push({ ...asCommand(words, row)!, args: [...words.slice(3), ...flags], template: true });
    }
  }
  return out;
}

/** Output and exit code of `deno task <task> --help`, run once per task. */
const helpCache = new Map<string, { code: number; text: string }>();
async function help(task: string): Promise<{ code: number; text: string }> {
  const cached = helpCache.get(task);
  if (cached) return cached;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", task, "--help"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const r = { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
  helpCache.set(task, r);
  return r;
}

/** The flags a task's `--help` lists (none for a plain Deno task). */
async function knownFlags(task: string): Promise<Set<string>> {
  if (PLAIN_TASKS.includes(task)) return new Set();
  return new Set((await help(task)).text.match(/--[a-z][a-z0-9-]*/g) ?? []);
}

/** Why `path` (a word of a command) is wrong, or null: repository paths must exist. */
function pathProblem(path: string): string | null {
  if (path.startsWith("scratch/")) return null; // written by an earlier command (module doc)
  if (!REPO_FOLDERS.some((f) => path.startsWith(f))) return null; // the user's own files
  // a placeholder ends what can be checked: its folder must exist
  const cut = path.search(/<|\bvN\b/);
  const checked = cut < 0 ? path : path.slice(0, path.lastIndexOf("/", cut) + 1);
  try {
    Deno.statSync(join(ROOT, checked));
    return null;
  } catch {
    return `${checked} does not exist`;
  }
}

/** Every problem of one command (empty when it runs as printed). */
async function problems(c: Command): Promise<string[]> {
  if (!(c.task in TASKS)) return [`no task "${c.task}" in deno.json`];
  const flags = await knownFlags(c.task);
  const out: string[] = [];
  for (let i = 0; i < c.args.length; i++) {
    const a = c.args[i];
    const flag = a.startsWith("--") ? a.split("=")[0] : null;
    if (flag) {
      if (!flags.has(flag)) out.push(`${flag} is not an option of deno task ${c.task}`);
      const value = c.template ? undefined : c.args[i + 1];
      if (flag === "--set" && value && !value.includes("<")) {
        try {
          validateConfig(parseOverride(value));
        } catch (e) {
          out.push(`--set ${value}: ${(e as Error).message}`);
        }
      }
      if (flag === "--model" && value && !value.startsWith("<")) {
        const m = releasedModel(value);
        if (!m && !value.includes("/")) out.push(`--model ${value}: not a released model`);
        if (c.task === "predict" && m && describeReleased(m).input.includes("field context")) {
          if (!c.args.includes("--context")) out.push(`--model ${value} needs --context`);
        }
      }
      if (OUTPUT_FLAGS.includes(flag)) i++; // a file it writes
      continue;
    }
    const p = pathProblem(a);
    if (p) out.push(p);
  }
  return out;
}

Deno.test("the README opens with the two commands, and is at most 10 KB", () => {
  const lines = codeLines(README);
  assertEquals(lines.slice(0, 2).map((l) => shellWords(l).join(" ")), [
    "npx -y deno@2.9.6 task experiment configs/quickstart.yaml",
    "npx -y deno@2.9.6 task test",
  ]);
  const bytes = new TextEncoder().encode(README).length;
  assert(bytes <= 10 * 1024, `README.md is ${bytes} bytes; at most 10 KB (move detail to docs/)`);
});

Deno.test("every deno task command in the README's code blocks runs as printed (task, flags, paths, --model, --set)", async () => {
  const cmds = blockCommands();
  assert(cmds.length >= 10, `only ${cmds.length} commands found`);
  const bad: string[] = [];
  for (const c of cmds) for (const p of await problems(c)) bad.push(`${c.source}\n    ${p}`);
  assertEquals(bad, []);
});

Deno.test("every command of the README's Commands table exists with the flags it names", async () => {
  const cmds = tableCommands();
  assert(cmds.length >= 12, `only ${cmds.length} table rows found`);
  const bad: string[] = [];
  for (const c of cmds) for (const p of await problems(c)) bad.push(`${c.source}\n    ${p}`);
  assertEquals(bad, []);
});

Deno.test("the commands the README says take --help print a usage line and exit 0; it names the ones that do not", async () => {
  const commands = README.slice(README.indexOf("## Commands"));
  const claim = commands.split("\n\n")[1].replace(/\n/g, " ");
  assert(claim.includes("--help"), claim);
  for (const t of PLAIN_TASKS) assert(claim.includes(`\`deno task ${t}\``), claim);
  const tasks = new Set([...blockCommands(), ...tableCommands()].map((c) => c.task));
  const bad: string[] = [];
  for (const t of [...tasks].filter((t) => !PLAIN_TASKS.includes(t))) {
    const r = await help(t);
    if (r.code !== 0 || !/^usage: deno task /im.test(r.text)) {
      bad.push(`deno task ${t} --help: exit ${r.code}, ${r.text.split("\n")[0]}`);
    }
  }
  assertEquals(bad, []);
});

Deno.test("the README quotes the release model's accuracy on new fields from the CV and the locked test set, and --context single's", () => {
  const section = README.slice(
    README.indexOf("## Which model to use"),
    README.indexOf("## Results"),
  );
  for (
    const fact of [
      // aries-resnet18-ctx-release: cv-resnet18-grouped-aries v1's cv.json and test-scores.json,
      // and its folds alone (2698 of 3190 right, summed from their evaluations).
      "**`aries-resnet18-ctx-release`**",
      "**91.6%**",
      "[89.6, 93.2]",
      "**91.8%**",
      "[89.8, 93.6]",
      "84.6%",
      // aries-cpu-ctx-release: cv-best-grouped-aries v2 (2690 of 3190 alone).
      "89.9%",
      "[87.3, 92.6]",
      "90.1%",
      "[88.1, 92.1]",
      "--context single",
      "84.3%",
    ]
  ) {
    assert(section.includes(fact), `missing ${fact} in the README's "Which model to use"`);
  }
  assert(!README.includes("91.71"), "one grouped split's 91.71% is not the expected accuracy");
  assert(RELEASED.some((m) => section.includes(`**\`${m.name}\`**`)), "which model to use");
});

/** Directories on PATH that hold a `deno`, to take away for the fresh shell. */
function withoutDeno(path: string): string {
  return path.split(":").filter((d) => {
    try {
      Deno.statSync(join(d, "deno"));
      return false;
    } catch {
      return true;
    }
  }).join(":");
}

const NPX = withoutDeno(Deno.env.get("PATH") ?? "").split(":").some((d) => {
  try {
    return Deno.statSync(join(d, "npx")).isFile;
  } catch {
    return false;
  }
});

Deno.test({
  name: "the README's PATH line puts Deno 2.9.6 on PATH in a fresh bash" +
    (NPX ? "" : " [ignored: no npx on PATH]"),
  ignore: !NPX,
  async fn() {
    const lines = codeLines(README);
    const pathLine = lines[2];
    assert(pathLine.startsWith("export PATH="), `the line after the two commands: ${pathLine}`);
    const out = await new Deno.Command("bash", {
      args: ["--noprofile", "--norc", "-c", `${pathLine}\ncommand -v deno && deno --version`],
      env: { PATH: withoutDeno(Deno.env.get("PATH") ?? ""), HOME: Deno.env.get("HOME") ?? "/" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, text);
    assert(/^deno 2\.9\.6 /m.test(text), text);
  },
});

/** npm packages (name@version) under node_modules/.deno with an install script of their own. */
function packagesWithInstallScripts(): string[] {
  const dir = join(ROOT, "node_modules/.deno");
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const at = e.name.lastIndexOf("@");
    if (!e.isDirectory || at <= 0) continue;
    const name = e.name.slice(0, at).replace("+", "/");
    const pkgDir = join(dir, e.name, "node_modules", name);
    let scripts: Record<string, string> = {};
    try {
      scripts = JSON.parse(Deno.readTextFileSync(join(pkgDir, "package.json"))).scripts ?? {};
    } catch {
      continue;
    }
    const gyp = (() => {
      try {
        return Deno.statSync(join(pkgDir, "binding.gyp")).isFile;
      } catch {
        return false;
      }
    })();
    if (gyp || ["preinstall", "install", "postinstall"].some((k) => k in scripts)) {
      out.push(name);
    }
  }
  return out.sort();
}

const HAVE_NODE_MODULES = (() => {
  try {
    return Deno.statSync(join(ROOT, "node_modules/.deno")).isDirectory;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "every npm package with an install script is denied in deno.json (no 'Ignored build scripts' warning on the first run)" +
    (HAVE_NODE_MODULES ? "" : " [ignored: no node_modules/ yet: run deno install]"),
  ignore: !HAVE_NODE_MODULES,
  fn() {
    const deny: string[] = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")))
      .allowScripts?.deny ?? [];
    const missing = packagesWithInstallScripts().filter((n) => !deny.includes(`npm:${n}`));
    assertEquals(missing, [], "add them to allowScripts.deny in deno.json, or allow them");
  },
});
