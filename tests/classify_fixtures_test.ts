/**
 * `deno task classify` on the astropy-made fixture frames (tests/fixtures/frames: field_a with
 * the image in the primary HDU, field_b behind an empty primary, their truth tables): the first
 * image extension is found without --hdu and said on stderr, and the stretch table that
 * lib/experiment/classify_stretch.ts quotes is what aries-cpu-ctx-s1 gives against the truth.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../lib/util/assert.ts";
import { classifyFrames } from "../lib/experiment/classify.ts";
import { loadRun } from "../lib/experiment/predict.ts";
import { parseCsv } from "../lib/results/write.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { ROOT, runScript } from "./permissions.ts";

const FX = join(ROOT, "tests/fixtures/frames");
const FIELD_A = join(FX, "field_a.fits.gz"), FIELD_B = join(FX, "field_b.fits.gz");
const work = Deno.makeTempDirSync();
const run = await loadRun("aries-cpu-ctx-s1", true);

/** A CSV file as rows of objects (rows of the header's width only). */
function table(path: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(Deno.readTextFileSync(path));
  return rows.filter((r) => r.length === head.length).map((r) =>
    Object.fromEntries(head.map((h, j) => [h, r[j]]))
  );
}

Deno.test("--hdu: without it, field_b's empty primary leads to its image in HDU 1, said once on stderr; equal to --hdu 1", async () => {
  const warnings: string[] = [];
  const auto = join(work, "auto"), one = join(work, "one");
  const s = await classifyFrames(run, [FIELD_A, FIELD_B], auto, { warn: (m) => warnings.push(m) });
  assertEquals(s.frames.map((f) => f.hdu), [0, 1]);
  const said = warnings.filter((w) => w.includes("primary HDU is empty"));
  assertEquals(said.length, 1);
  assert(said[0].startsWith(FIELD_B) && said[0].includes("HDU 1 (EXTNAME SCI)"), said[0]);
  await classifyFrames(run, [FIELD_B], one, { hdu: 1, warn: () => {} });
  const rowsB = table(join(auto, "catalog.csv")).filter((r) => r.frame === FIELD_B);
  assert(rowsB.length > 50, `${rowsB.length} rows`);
  assertEquals(rowsB, table(join(one, "catalog.csv")));
  // --hdu 0 asked for: the empty primary is refused as before, naming --hdu 1; A still written.
  const e = await assertRejects(
    () => classifyFrames(run, [FIELD_A, FIELD_B], join(work, "zero"), { hdu: 0, warn: () => {} }),
    StarmambaError,
    "Pass --hdu 1",
  );
  assert(!e.message.includes("\n") && e.message.includes(FIELD_B), e.message);
  assertEquals(
    new Set(table(join(work, "zero", "catalog.csv")).map((r) => r.frame)),
    new Set([FIELD_A]),
  );
  // A file whose primary is empty and that holds no image: refused, naming --hdu's absence.
  const empty = join(work, "empty.fits");
  const header = [
    "SIMPLE  =                    T",
    "BITPIX  =                    8",
    "NAXIS   =                    0",
    "END",
  ].map((c) => c.padEnd(80)).join("").padEnd(2880);
  Deno.writeTextFileSync(empty, header);
  await assertRejects(
    () => classifyFrames(run, [empty], join(work, "none"), { warn: () => {} }),
    StarmambaError,
    "No HDU in this file holds an image",
  );
});

Deno.test("deno task classify: field_b without --hdu names HDU 1 on stderr, writes its rows, exit 0", () => {
  const out = join(work, "cli-b");
  const r = runScript("experiments/classify.ts", [
    FIELD_B,
    "--model",
    "aries-cpu-ctx-s1",
    "--out",
    out,
  ]);
  assertEquals(r.code, 0, r.stderr);
  assert(r.stderr.includes("primary HDU is empty; reading the image in HDU 1"), r.stderr);
  const json = JSON.parse(Deno.readTextFileSync(join(out, "catalog.json")));
  assertEquals([json.frames[0].hdu, json.frames[0].stretch], [1, "zscale"]);
  assert(r.stderr.includes("zscale"), r.stderr);
});

/** One line of the stretch table: correct/matched, galaxies found/true, galaxies right/called. */
interface Score {
  correct: number;
  matched: number;
  found: number;
  galaxies: number;
  called: number;
}

/** The table in lib/experiment/classify_stretch.ts's module comment, by stretch. */
function quotedTable(): Map<string, Score> {
  const text = Deno.readTextFileSync(join(ROOT, "lib/experiment/classify_stretch.ts"));
  const re = /^ \*\s+(\w+)\s+(\d+)\/(\d+)\s+[\d.]+%\s+(\d+)\/(\d+)\s+(\d+)\/(\d+)\s*$/gm;
  const out = new Map<string, Score>();
  for (const m of text.matchAll(re)) {
    const [c, n, f, g, f2, called] = m.slice(2).map(Number);
    assertEquals(f, f2, m[0]);
    out.set(m[1], { correct: c, matched: n, found: f, galaxies: g, called });
  }
  return out;
}

/** Rows matched to the truth: for each truth source the nearest classified row within 2 px. */
function score(rows: Record<string, string>[], truth: Record<string, string>[]): Score {
  const s: Score = { correct: 0, matched: 0, found: 0, galaxies: 0, called: 0 };
  for (const t of truth) {
    let best: Record<string, string> | null = null, bd = 2;
    for (const r of rows) {
      const d = Math.hypot(Number(r.x) - Number(t.x), Number(r.y) - Number(t.y));
      if (r.class && d <= bd) [best, bd] = [r, d];
    }
    if (!best) continue;
    s.matched++;
    if (best.class === t.class) s.correct++;
    if (t.class === "galaxy") s.galaxies++;
    if (best.class === "galaxy") s.called++;
    if (t.class === "galaxy" && best.class === "galaxy") s.found++;
  }
  return s;
}

Deno.test("the stretch table quoted in classify_stretch.ts is what aries-cpu-ctx-s1 gives on the fixture frames (rows within 2 px of the truth)", async () => {
  const quoted = quotedTable();
  assertEquals([...quoted.keys()], ["identity", "zscale", "asinh", "minmax"]);
  const truth = [table(join(FX, "truth_a.csv")), table(join(FX, "truth_b.csv"))];
  for (const [stretch, want] of quoted) {
    const out = join(work, `table-${stretch}`);
    const opts = { stretch: stretch as "zscale", warn: () => {} };
    await classifyFrames(run, [FIELD_A, FIELD_B], out, opts);
    const rows = table(join(out, "catalog.csv"));
    const [a, b] = [FIELD_A, FIELD_B].map((f, i) =>
      score(rows.filter((r) => r.frame === f), truth[i])
    );
    const got = Object.fromEntries(
      Object.keys(a).map((k) => [k, a[k as keyof Score] + b[k as keyof Score]]),
    );
    assertEquals(got, { ...want } as Record<string, number>, stretch);
  }
  // The default for this display-image model on these physical frames is the zscale row.
  const def = await classifyFrames(run, [FIELD_A], join(work, "table-default"), { warn: () => {} });
  assertEquals(def.frames[0].stretch, "zscale");
  assertEquals(
    table(join(work, "table-default", "catalog.csv")),
    table(join(work, "table-zscale", "catalog.csv")).filter((r) => r.frame === FIELD_A),
  );
});

Deno.test({
  name: "classify fixtures teardown",
  fn: async () => {
    run.model.params.dispose();
    await Deno.remove(work, { recursive: true });
  },
});
