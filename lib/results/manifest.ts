/**
 * The checksum manifest of a published folder (results/, models/): `<folder>/SHA256SUMS`, one
 * `<sha256>  <path>` line per file (paths relative to the folder, sorted), the format
 * `sha256sum` writes, so `cd results && sha256sum -c SHA256SUMS` checks it too. It covers every
 * file under the folder except itself, its lock, a README.md at its top (prose about the
 * results, edited with the code), weight shards `model/*.bin` (kept out of git; each result.json
 * lists their sha256 in `artifacts`, and the manifest covers result.json), resumable `state/`
 * and `*.tmp` files of writes in flight. Writers record what they wrote with
 * {@link recordInManifest}; `deno task verify-results` checks it, `--seal` rewrites it.
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { createHash } from "node:crypto";
import { exists, writeFileAtomic } from "../util/fs.ts";
import { StarmambaError } from "../util/errors.ts";

/** File name of the manifest. */
export const MANIFEST = "SHA256SUMS";
/** Lock file that serialises writers of one manifest (two runs finishing together). */
const LOCK = `${MANIFEST}.lock`;
/** A lock older than this was left by a killed writer and is taken over. */
const STALE_LOCK_MS = 60_000;

/** path (relative to the manifest's folder, `/`-separated) → sha256 hex. */
export type Manifest = Map<string, string>;

const LINE = /^([0-9a-f]{64}) [ *](.+)$/;

/** sha256 (hex) of a file's bytes, synchronously (writers such as writeIndex are synchronous). */
export function sha256File(path: string): string {
  return createHash("sha256").update(Deno.readFileSync(path)).digest("hex");
}

/** `p` relative to the working directory when inside it (as problems print paths), else `p`. */
export function shown(p: string): string {
  const rel = relative(Deno.cwd(), p);
  return rel === "" ? "." : rel.startsWith("..") ? p : rel;
}

/** Parses manifest text; a malformed line is a {@link StarmambaError} naming it. */
export function parseManifest(text: string, path: string): Manifest {
  const m: Manifest = new Map();
  for (const [i, line] of text.split("\n").entries()) {
    if (line === "") continue;
    const g = LINE.exec(line);
    const rel = g?.[2];
    if (!g || !rel || isAbsolute(rel) || rel.split("/").includes("..")) {
      throw new StarmambaError(
        `${shown(path)} line ${i + 1}: expected "<sha256>  <path inside the folder>", got ` +
          `${JSON.stringify(line.slice(0, 80))}; restore it with git checkout -- ${shown(path)}`,
      );
    }
    m.set(rel, g[1]);
  }
  return m;
}

/** The manifest as sha256sum writes it: sorted by path, two spaces, one line each. */
export function formatManifest(m: Manifest): string {
  const paths = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return paths.map((p) => `${m.get(p)}  ${p}\n`).join("");
}

/** The manifest of folder `root`, or null when it has none. */
export function readManifest(root: string): Manifest | null {
  const path = join(root, MANIFEST);
  if (!exists(path)) return null;
  return parseManifest(Deno.readTextFileSync(path), path);
}

/** Whether a path (relative to the manifest's folder, `/`-separated) is outside its cover. */
export function isExempt(rel: string): boolean {
  const parts = rel.split("/");
  if (parts.length === 1 && [MANIFEST, LOCK, "README.md"].includes(rel)) return true;
  if (rel.endsWith(".tmp")) return true;
  if (parts.slice(0, -1).includes("state")) return true;
  return parts.length >= 2 && parts[parts.length - 2] === "model" && rel.endsWith(".bin");
}

/** What {@link coveredFiles} found. */
export interface CoveredFiles {
  /** Files the manifest must list, relative to its folder, sorted. */
  files: string[];
  /** Run folders with run.json but no result.json (runs in progress): not results yet. */
  unfinished: string[];
}

/** Every file under `dir` that the manifest of `root` covers (`dir` inside `root`). */
export function coveredFiles(root: string, dir = root): CoveredFiles {
  const files: string[] = [], unfinished: string[] = [];
  const walk = (d: string) => {
    const entries = [...Deno.readDirSync(d)];
    const names = new Set(entries.map((e) => e.name));
    if (d !== root && names.has("run.json") && !names.has("result.json")) {
      unfinished.push(d);
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory) walk(p);
      else {
        const rel = relative(root, p).split(sep).join("/");
        if (!isExempt(rel)) files.push(rel);
      }
    }
  };
  if (exists(dir)) walk(dir);
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { files, unfinished };
}

/** Whether `dir` is a project root (the walk up for a manifest stops there). */
function isProjectRoot(dir: string): boolean {
  return exists(join(dir, "deno.json")) || exists(join(dir, ".git"));
}

/**
 * The folder whose manifest covers `dir`: `dir` itself or its nearest ancestor holding a
 * SHA256SUMS, not above the project root; null when there is none (scratch folders).
 */
export function findManifestRoot(dir: string): string | null {
  let d = resolve(dir);
  for (;;) {
    if (exists(join(d, MANIFEST))) return d;
    const up = dirname(d);
    if (up === d || isProjectRoot(d)) return null;
    d = up;
  }
}

/**
 * Where a published run's manifest goes when no folder above it has one yet: the top folder of
 * its output folder inside the project (`results` for `results/ablations/<sweep>/v1/runs`), so a
 * sweep's runs and summaries share one manifest; the output folder itself when it lies outside.
 */
export function publishRoot(projectRoot: string, outRoot: string): string {
  const rel = relative(resolve(projectRoot), resolve(outRoot));
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return resolve(outRoot);
  return join(resolve(projectRoot), rel.split(sep)[0]);
}

/** Runs `fn` holding the manifest's lock file (created exclusively; a stale one is taken over). */
function withLock<T>(root: string, fn: () => T): T {
  const lock = join(root, LOCK);
  Deno.mkdirSync(root, { recursive: true });
  for (let tries = 0;; tries++) {
    try {
      Deno.openSync(lock, { write: true, createNew: true }).close();
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      let age = 0;
      try {
        age = Date.now() - (Deno.statSync(lock).mtime?.getTime() ?? Date.now());
      } catch { /* released meanwhile */ }
      if (age > STALE_LOCK_MS || tries > 1200) {
        try {
          Deno.removeSync(lock);
        } catch { /* another writer took it over first */ }
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try {
    return fn();
  } finally {
    try {
      Deno.removeSync(lock);
    } catch { /* already gone */ }
  }
}

/**
 * Records `files` (absolute, or relative to the working directory; inside `root`) in
 * `<root>/SHA256SUMS` with their current sha256, creating the manifest when absent; a listed
 * file that no longer exists loses its entry, exempt files ({@link isExempt}) are skipped.
 * Every writer of a published folder calls this for the files it wrote.
 */
export function recordInManifest(root: string, files: string[]): void {
  const top = resolve(root);
  withLock(top, () => {
    const m = readManifest(top) ?? new Map();
    for (const f of files) {
      const abs = resolve(f);
      const rel = relative(top, abs).split(sep).join("/");
      if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
        throw new StarmambaError(
          `${f} is not inside ${shown(top)}: it cannot go in its ${MANIFEST}`,
        );
      }
      if (isExempt(rel)) continue;
      if (/[\n\\]/.test(rel)) {
        throw new StarmambaError(`${f}: a file name with a newline or backslash; rename it`);
      }
      if (exists(abs) && Deno.statSync(abs).isFile) m.set(rel, sha256File(abs));
      else m.delete(rel);
    }
    writeFileAtomic(join(top, MANIFEST), formatManifest(m));
  });
}

/**
 * Records `files` in the manifest of the folder that holds them, when one does (a published
 * folder); does nothing for scratch output. Returns the manifest's folder, or null.
 */
export function recordIfPublished(files: string[]): string | null {
  if (files.length === 0) return null;
  const root = findManifestRoot(dirname(resolve(files[0])));
  if (root) recordInManifest(root, files);
  return root;
}

/**
 * Records a finished run folder (every covered file in it) in the manifest above it, or in
 * `fallbackRoot`'s (created) when none is above it and the run was published (see
 * {@link publishRoot}); a scratch run (fallbackRoot null) outside any manifest is left alone.
 */
export function recordRunFolder(runDir: string, fallbackRoot: string | null): void {
  const root = findManifestRoot(runDir) ?? fallbackRoot;
  if (!root) return;
  const { files } = coveredFiles(resolve(root), resolve(runDir));
  recordInManifest(root, files.map((f) => join(root, f)));
}

/** Files under `dir` that the manifest of `root` covers but does not list yet. */
export function unlistedFiles(root: string, dir: string): string[] {
  const m = readManifest(root) ?? new Map();
  return coveredFiles(resolve(root), resolve(dir)).files.filter((f) => !m.has(f))
    .map((f) => join(root, f));
}

/** What {@link checkManifest} found. */
export interface ManifestCheck {
  /** The manifest file. */
  path: string;
  /** Its own sha256 (what a citation pins). */
  sha256: string;
  /** Entries checked (those under the folder asked about). */
  listed: number;
  /** One line per problem, each starting with the file's path. */
  problems: string[];
}

/**
 * Checks the manifest of `root` for the files under `dir` (default: all of it): every listed
 * file exists and has its sha256, and every covered file present is listed.
 */
export function checkManifest(root: string, dir = root): ManifestCheck {
  const top = resolve(root), under = resolve(dir);
  const path = join(top, MANIFEST);
  const problems: string[] = [];
  let m: Manifest;
  try {
    m = parseManifest(Deno.readTextFileSync(path), path);
  } catch (e) {
    const msg = e instanceof StarmambaError ? e.message : `${shown(path)}: ${(e as Error).message}`;
    return { path, sha256: "", listed: 0, problems: [msg] };
  }
  const prefix = relative(top, under).split(sep).join("/");
  const inside = (rel: string) => prefix === "" || rel === prefix || rel.startsWith(`${prefix}/`);
  let listed = 0;
  const fix = `restore it with git checkout -- ${shown(top)}, or rerun and publish anew`;
  for (const [rel, want] of m) {
    if (!inside(rel)) continue;
    listed++;
    const abs = join(top, rel);
    if (!exists(abs)) {
      problems.push(`${shown(abs)}: listed in ${shown(path)} but missing; ${fix}`);
      continue;
    }
    const got = sha256File(abs);
    if (got !== want) {
      problems.push(
        `${shown(abs)}: sha256 ${got.slice(0, 12)}… is not the ${want.slice(0, 12)}… that ` +
          `${shown(path)} records: the file changed after it was published; ${fix}`,
      );
    }
  }
  for (const rel of coveredFiles(top, under).files) {
    if (!m.has(rel)) {
      problems.push(
        `${shown(join(top, rel))}: not listed in ${shown(path)} (added after publishing): ` +
          "remove it, or record it with deno task seal-results",
      );
    }
  }
  return { path, sha256: sha256File(path), listed, problems };
}

/** What {@link sealManifest} changed. */
export interface SealReport {
  path: string;
  added: string[];
  changed: string[];
  removed: string[];
  /** Entries now listed. */
  files: number;
  /** The new manifest's own sha256. */
  sha256: string;
}

/**
 * Rewrites `<root>/SHA256SUMS` from the files as they are now. An entry whose file changed is a
 * {@link StarmambaError} unless `force`: a published file is never meant to change, so sealing
 * over a change would hide exactly what the manifest is there to show.
 */
export function sealManifest(root: string, force = false): SealReport {
  const top = resolve(root);
  const path = join(top, MANIFEST);
  return withLock(top, () => {
    const old = readManifest(top) ?? new Map();
    const next: Manifest = new Map();
    for (const rel of coveredFiles(top).files) next.set(rel, sha256File(join(top, rel)));
    const added = [...next.keys()].filter((p) => !old.has(p));
    const changed = [...next.keys()].filter((p) => old.has(p) && old.get(p) !== next.get(p));
    const removed = [...old.keys()].filter((p) => !next.has(p));
    if (changed.length > 0 && !force) {
      throw new StarmambaError(
        `--seal ${shown(top)}: ${changed.length} published file(s) changed since they were ` +
          `recorded (${changed.slice(0, 5).join(", ")}${changed.length > 5 ? ", …" : ""}): ` +
          "restore them with git checkout, or add --force if the change is intended",
      );
    }
    writeFileAtomic(path, formatManifest(next));
    return { path, added, changed, removed, files: next.size, sha256: sha256File(path) };
  });
}
