/**
 * File-system helpers: atomic writes (temp file + rename), so a crash never leaves a half
 * written result, checkpoint or cache file behind.
 * @module
 */
import { dirname } from "node:path";

/** Writes `data` to `path` atomically (temp file in the same folder, then rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  Deno.mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") Deno.writeTextFileSync(tmp, data);
    else Deno.writeFileSync(tmp, data);
    Deno.renameSync(tmp, path);
  } catch (e) {
    // A full disk must not leave a half-written temp file behind either.
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    throw e;
  }
}

/** Writes pretty JSON atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
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
