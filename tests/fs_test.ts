/**
 * Atomic writes: the file appears whole or not at all, and a failed write leaves no temp file;
 * a failed write is one line naming the path (full disk: exit 1); output paths are checked
 * before the work.
 */
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  checkOutputDir,
  checkOutputFile,
  DiskFullError,
  writeError,
  writeFileAtomic,
} from "../lib/util/fs.ts";
import { StarmambaError } from "../lib/util/errors.ts";

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

/** True when `path` is a character device (absent on some systems). */
function isCharDevice(path: string): boolean {
  try {
    return Deno.statSync(path).isCharDevice === true;
  } catch {
    return false;
  }
}

/** An error as Deno raises it for a failed system call: the errno name in `code`. */
function osError(code: string): Error {
  return Object.assign(new Error(`os error (${code})`), { code });
}

Deno.test("writeError: a full disk or quota is exit 1 naming the file; no permission or a read-only file system is one line naming it; other errors pass unchanged", () => {
  for (const code of ["ENOSPC", "EDQUOT"]) {
    const e = writeError(osError(code), "/runs/v1/state/state.json");
    assert(e instanceof DiskFullError && e instanceof StarmambaError, String(e));
    assertEquals(e.exitCode, 1);
    assertEquals(e.message, "disk full writing /runs/v1/state/state.json: free space and rerun");
  }
  for (
    const [code, words] of [
      ["EACCES", "permission denied"],
      ["EPERM", "operation not permitted"],
      ["EROFS", "read-only file system"],
    ]
  ) {
    const e = writeError(osError(code), "/ro/out.csv") as StarmambaError;
    assert(e instanceof StarmambaError && !(e instanceof DiskFullError), String(e));
    assertEquals(e.exitCode, 2);
    assert(e.message.startsWith(`cannot write /ro/out.csv: ${words};`), e.message);
    assert(!e.message.includes("\n"), e.message);
  }
  const deno = new Deno.errors.NotCapable(
    'Requires all access to "/dev/full", run again with the --allow-all flag',
  );
  assertEquals(
    (writeError(deno, "/x/out.csv") as StarmambaError).message,
    'cannot write /x/out.csv: Requires all access to "/dev/full", run again with the --allow-all flag',
  );
  const eisdir = writeError(osError("EISDIR"), "/tmp") as StarmambaError;
  assert(eisdir.message.includes("/tmp: it is a folder"), eisdir.message);
  const other = osError("EIO");
  assertEquals(writeError(other, "/x"), other);
  const plain = new TypeError("bug");
  assertEquals(writeError(plain, "/x"), plain);
});

Deno.test("checkOutputFile / checkOutputDir: a folder given as a file, a file given as a folder and a path under a file are refused naming the flag; a missing parent (created later) and a device pass", () => {
  const dir = Deno.makeTempDirSync();
  const file = join(dir, "f.txt");
  Deno.writeTextFileSync(file, "x");
  assertThrows(() => checkOutputFile(dir, "--out"), StarmambaError, `--out ${dir} is a folder`);
  assertThrows(() => checkOutputDir(file, "--out"), StarmambaError, `--out ${file} is a file`);
  assertThrows(
    () => checkOutputFile(join(file, "a.csv"), "--errors"),
    StarmambaError,
    `--errors ${join(file, "a.csv")}: ${file} is a file, not a folder`,
  );
  checkOutputFile(join(dir, "new", "deeper", "a.csv"), "--out");
  checkOutputDir(join(dir, "run"), "--out");
  checkOutputFile(file, "--out"); // an existing file is replaced
  if (isCharDevice("/dev/null")) checkOutputFile("/dev/null", "--out");
  // The checks leave nothing behind: no probe file, no folder created.
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["f.txt"]);
  Deno.removeSync(dir, { recursive: true });
});

/** Root writes through permission bits, so a chmod-ed folder is read-only only for others. */
const ROOT_USER = Deno.uid() === 0;

Deno.test({
  name:
    "a read-only output folder: the check and the write are one line naming the folder or file" +
    (ROOT_USER ? " [ignored: running as root, which writes through permission bits]" : ""),
  ignore: ROOT_USER,
  fn: () => {
    const dir = Deno.makeTempDirSync();
    const ro = join(dir, "ro");
    Deno.mkdirSync(ro);
    Deno.chmodSync(ro, 0o555);
    try {
      assertThrows(
        () => checkOutputFile(join(ro, "p.csv"), "--out"),
        StarmambaError,
        `--out ${join(ro, "p.csv")}: cannot write in ${ro} (permission denied)`,
      );
      assertThrows(
        () => checkOutputDir(join(ro, "run", "v1"), "output.scratch_dir"),
        StarmambaError,
        `cannot write in ${ro} (permission denied)`,
      );
      assertThrows(
        () => writeFileAtomic(join(ro, "p.csv"), "x"),
        StarmambaError,
        `cannot write ${join(ro, "p.csv")}: permission denied`,
      );
    } finally {
      Deno.chmodSync(ro, 0o755);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
