/**
 * File-system helpers: atomic writes (temp file + rename), so a crash never leaves a half
 * written result, checkpoint or cache file behind; the one-line errors a failed write becomes
 * (full disk, no permission); and the checks a CLI makes on its output paths before any long
 * work.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { StarmambaError } from "./errors.ts";

/** A write that failed because the disk (or the quota) is full: an environment failure, exit 1. */
export class DiskFullError extends StarmambaError {
  /**
   * @param path the file being written.
   * @param rerun how to continue once space is free (default: "rerun").
   */
  constructor(readonly path: string, rerun = "rerun") {
    super(`disk full writing ${path}: free space and ${rerun}`, 1);
    this.name = "DiskFullError";
  }
}

/** Error codes of a full disk or an exhausted quota. */
const DISK_FULL = new Set(["ENOSPC", "EDQUOT"]);
/** Error codes of a place the process may not write, with the words the message uses. */
const NOT_WRITABLE: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
};

/** The errno name (ENOSPC, EACCES, …) Deno attaches to a file-system error, if any. */
function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The error a failed write of `path` should surface as: a full disk or quota →
 * {@link DiskFullError} (exit 1); no permission (the system's or Deno's) or a read-only file
 * system → a {@link StarmambaError} naming the path; a folder where the file should go → one
 * naming it; anything else unchanged (a real bug keeps its stack trace).
 */
export function writeError(e: unknown, path: string): unknown {
  if (e instanceof StarmambaError) return e;
  if (e instanceof Deno.errors.NotCapable) {
    // Deno's own permissions (e.g. a device, which it writes only with --allow-all).
    return new StarmambaError(`cannot write ${path}: ${e.message.split("\n")[0]}`);
  }
  const code = errnoOf(e);
  if (code === undefined) return e;
  if (DISK_FULL.has(code)) return new DiskFullError(path);
  if (code in NOT_WRITABLE) {
    return new StarmambaError(
      `cannot write ${path}: ${NOT_WRITABLE[code]}; choose a folder you can write to, or fix ` +
        "its permissions",
    );
  }
  if (code === "EISDIR") {
    return new StarmambaError(`cannot write ${path}: it is a folder; give a file path`);
  }
  if (code === "ENOTDIR") {
    return new StarmambaError(`cannot write ${path}: a part of that path is a file, not a folder`);
  }
  return e;
}

/** Writes `data` to `path` atomically (temp file in the same folder, then rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  if (isDevice(path)) {
    // A device or pipe (/dev/stdout, a FIFO) cannot be replaced by a rename: write in place.
    try {
      Deno.writeFileSync(path, bytes);
    } catch (e) {
      throw writeError(e, path);
    }
    return;
  }
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    Deno.mkdirSync(dirname(path), { recursive: true });
    Deno.writeFileSync(tmp, bytes);
    Deno.renameSync(tmp, path);
  } catch (e) {
    // A full disk must not leave a half-written temp file behind either.
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    throw writeError(e, path);
  }
}

/** True when `path` exists and is neither a regular file nor a folder (a device, pipe, socket). */
function isDevice(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return !info.isFile && !info.isDirectory;
  } catch {
    return false;
  }
}

/**
 * Checks, before any long work, that a command can write the output file `path` given as
 * `flag` (e.g. "--out"): it is not a folder, and the folder it goes in — or, where that is yet
 * to be created, the nearest one that exists — is a folder the process can write in. A refusal
 * is a one-line {@link StarmambaError} naming the flag and the path.
 */
export function checkOutputFile(path: string, flag: string): void {
  const info = statOrNull(path);
  if (info?.isDirectory) {
    throw new StarmambaError(`${flag} ${path} is a folder; give a file path (one inside it)`);
  }
  if (info && !info.isFile) return; // a device or pipe (/dev/stdout): written in place
  checkWritableFolder(dirname(resolve(path)), `${flag} ${path}`);
}

/**
 * {@link checkOutputFile} for an output folder: `path` is a folder or does not exist yet, and
 * it (or the nearest existing folder above it, where it will be created) can be written in.
 */
export function checkOutputDir(path: string, flag: string): void {
  const info = statOrNull(path);
  if (info && !info.isDirectory) {
    throw new StarmambaError(`${flag} ${path} is a file, not a folder; give a folder`);
  }
  checkWritableFolder(resolve(path), `${flag} ${path}`);
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

/**
 * Throws unless `dir` — or the nearest existing folder above it — is a folder this process can
 * create files in. Tried for real (a probe file made and removed): permission bits do not tell
 * the whole story (root ignores them; a read-only mount does not show in them).
 */
function checkWritableFolder(dir: string, what: string): void {
  let d = dir;
  while (statOrNull(d) === null && dirname(d) !== d) d = dirname(d);
  if (!statOrNull(d)?.isDirectory) {
    throw new StarmambaError(`${what}: ${d} is a file, not a folder; choose another path`);
  }
  const probe = join(d, `.starmamba-write-check.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`);
  try {
    Deno.writeFileSync(probe, new Uint8Array(0), { createNew: true });
    Deno.removeSync(probe);
  } catch (e) {
    const code = errnoOf(e);
    if (code !== undefined && code in NOT_WRITABLE) {
      throw new StarmambaError(
        `${what}: cannot write in ${d} (${NOT_WRITABLE[code]}); choose a folder you can ` +
          "write to, or fix its permissions",
      );
    }
    if (code !== undefined && DISK_FULL.has(code)) throw new DiskFullError(d);
    throw e;
  }
}

/** Writes pretty JSON atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** True when `path` is an existing folder (a link to one counts). */
export function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** True if `path` exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** sha256 (hex) of bytes. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const h = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The JSON object in `path`, or null when it is missing, unreadable or not an object. */
export function readJsonObject(path: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(Deno.readTextFileSync(path));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
