import { assert, assertEquals } from "../lib/util/assert.ts";
import { codeVersion } from "../lib/results/provenance.ts";
import { join } from "node:path";

function git(dir: string, ...args: string[]): void {
  const o = new Deno.Command("git", {
    args: ["-c", "user.name=t", "-c", "user.email=t@t", ...args],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!o.success) throw new Error(new TextDecoder().decode(o.stderr));
}

Deno.test("codeVersion: edits in the output folders are results, not code; other edits are dirty", () => {
  const dir = Deno.makeTempDirSync();
  Deno.mkdirSync(join(dir, "lib"));
  Deno.mkdirSync(join(dir, "results"));
  Deno.writeTextFileSync(join(dir, "lib", "a.ts"), "export const a = 1;\n");
  Deno.writeTextFileSync(join(dir, "results", "index.md"), "# index\n");
  git(dir, "init", "-q");
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "init");
  const clean = codeVersion(dir, ["results"]);
  assertEquals(clean.commit.length, 40);
  assertEquals(clean.dirty, false);
  // A run rewrote the results index: still clean with results/ excluded, dirty without.
  Deno.writeTextFileSync(join(dir, "results", "index.md"), "# index\n- run v1\n");
  assertEquals(codeVersion(dir, ["results"]).dirty, false);
  assertEquals(codeVersion(dir).dirty, true);
  // A code edit is dirty whatever is excluded; untracked files are not.
  Deno.writeTextFileSync(join(dir, "lib", "b.ts"), "export const b = 2;\n");
  assertEquals(codeVersion(dir, ["results"]).dirty, false);
  Deno.writeTextFileSync(join(dir, "lib", "a.ts"), "export const a = 2;\n");
  assert(codeVersion(dir, ["results", "/abs", "../up"]).dirty);
});
