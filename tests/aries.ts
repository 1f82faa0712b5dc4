/**
 * Where the tests find the real ARIES cutouts: STARMAMBA_DATA, else ../shared/data/aries next to
 * the repository (the CI layout). Tests that need them are ignored, saying so, when absent.
 * @module
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** STARMAMBA_DATA, else ../shared/data/aries next to the repository (the CI layout). */
export function ariesRoot(): string {
  const env = Deno.env.get("STARMAMBA_DATA");
  if (env) return path.resolve(env);
  return fileURLToPath(new URL("../../shared/data/aries", import.meta.url));
}

/** The ARIES folder the tests read. */
export const ARIES: string = ariesRoot();

/** Whether the ARIES class folders are there. */
export const HAVE_ARIES: boolean = (() => {
  try {
    return Deno.statSync(path.join(ARIES, "star")).isDirectory &&
      Deno.statSync(path.join(ARIES, "galaxy")).isDirectory;
  } catch {
    return false;
  }
})();
