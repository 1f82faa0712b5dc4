/**
 * Atomic writes: the file appears whole or not at all, and a failed write leaves no temp file.
 */
import { join } from "node:path";
import { assertEquals, assertThrows } from "../lib/util/assert.ts";
import { writeFileAtomic } from "../lib/util/fs.ts";

Deno.test("writeFileAtomic: writes text and bytes, replacing the old file; a failed rename leaves only what was there", () => {
  const dir = Deno.makeTempDirSync();
  const file = join(dir, "a", "b.txt"); // the parent folder is created
  writeFileAtomic(file, "first");
  writeFileAtomic(file, new TextEncoder().encode("second"));
  assertEquals(Deno.readTextFileSync(file), "second");
  // The target is a non-empty folder: the temp file is written, the rename fails.
  const blocked = join(dir, "a", "blocked");
  Deno.mkdirSync(join(blocked, "inside"), { recursive: true });
  assertThrows(() => writeFileAtomic(blocked, "x"));
  const names = [...Deno.readDirSync(join(dir, "a"))].map((e) => e.name).sort();
  assertEquals(names, ["b.txt", "blocked"]);
  Deno.removeSync(dir, { recursive: true });
});
