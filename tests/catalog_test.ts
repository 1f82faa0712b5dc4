import sharp from "sharp";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../lib/util/assert.ts";
import {
  catalogOfImageFolder,
  type CatalogOptions,
  loadCatalog,
  parseGroupBy,
} from "../lib/data/catalog.ts";
import { loadImageFolder } from "../lib/data/imagefolder.ts";
import { writeFitsFloat32 } from "../lib/data/fits.ts";
import { StarmambaError } from "../lib/util/errors.ts";

/** A 4×4 grey PNG whose pixel p holds (seed + 7p) mod 256. */
async function png(file: string, seed: number): Promise<void> {
  const px = Uint8Array.from({ length: 16 }, (_, p) => (seed + 7 * p) % 256);
  await sharp(px, { raw: { width: 4, height: 4, channels: 1 } }).png().toFile(file);
}

/** Writes `csv` and the images it needs (names a.png … f.png) into a fresh folder. */
async function scene(csv: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(join(dir, "img"));
  for (const [i, name] of ["a", "b", "c", "d", "e", "f"].entries()) {
    await png(join(dir, "img", `${name}.png`), 10 * i);
  }
  await Deno.writeTextFile(join(dir, "sources.csv"), csv);
  return join(dir, "sources.csv");
}

/** Options for the 4×4 scenes, overridable. */
function options(file: string, over: Partial<CatalogOptions> = {}): CatalogOptions {
  return {
    file,
    size: 4,
    channels: 1,
    resize: "reject",
    onBadFile: "error",
    requireLabels: true,
    fitsHdu: 0,
    stretch: {
      stretch: "identity",
      percentile: null,
      asinh_a: 0.1,
      zscale_contrast: 0.25,
      zscale_samples: 1000,
    },
    groupBy: "name",
    groupRadiusArcsec: null,
    pixelScaleArcsec: null,
    cacheDir: join(file, "..", "cache"),
    ...over,
  };
}

const GOOD = [
  "id,path,label,frame,ra,dec,mag",
  "s1,img/a.png,star,F1,150.0,2.0,18.1",
  "s2,img/b.png,galaxy,F1,150.001,2.0,19.5",
  "s3,img/c.png,star,F2,150.5,2.0,17.0",
  "s4,img/d.png,galaxy,F2,150.5,2.002,20.2",
  "",
].join("\n");

Deno.test("loadCatalog: rows in catalogue order, classes sorted, columns kept, pixels as decoded", async () => {
  const file = await scene(GOOD);
  const ds = await loadCatalog(options(file));
  assertEquals(ds.files, ["img/a.png", "img/b.png", "img/c.png", "img/d.png"]);
  assertEquals(ds.classNames, ["galaxy", "star"]);
  assertEquals([...ds.labels], [1, 0, 1, 0]);
  assertEquals(ds.frames, ["F1", "F1", "F2", "F2"]);
  assertEquals(ds.table.columns, ["id", "path", "label", "frame", "ra", "dec", "mag"]);
  assertEquals(ds.table.rows[3], ["s4", "img/d.png", "galaxy", "F2", "150.5", "2.002", "20.2"]);
  // img/b.png is (10 + 7p) mod 256: pixel 5 is 45 → 45/255.
  assertEquals(ds.images[16 + 5], Math.fround(45 / 255));
  assertEquals(ds.n, 4);
  // A second load reads the decode cache and gives the same pixels.
  const again = await loadCatalog(options(file));
  assertEquals(again.images, ds.images);
  assertEquals(again.fingerprint, ds.fingerprint);
});

Deno.test("loadCatalog: group_by frame, column and sky (linked within the radius)", async () => {
  const file = await scene(GOOD);
  assertEquals((await loadCatalog(options(file, { groupBy: "frame" }))).groups, [
    "F1",
    "F1",
    "F2",
    "F2",
  ]);
  assertEquals((await loadCatalog(options(file, { groupBy: "column:mag" }))).groups, [
    "18.1",
    "19.5",
    "17.0",
    "20.2",
  ]);
  // a–b are 3.6″ apart, c–d 7.2″, the pairs 0.5° apart: a 5″ radius links only a–b.
  const g5 = (await loadCatalog(options(file, { groupBy: "sky", groupRadiusArcsec: 5 }))).groups;
  assertEquals(g5[0], g5[1]);
  assert(g5[2] !== g5[3] && g5[0] !== g5[2]);
  // Default radius: half of the 4-pixel cutout at 4″/px = 8″ links both pairs, not the fields.
  const g8 = (await loadCatalog(options(file, { groupBy: "sky", pixelScaleArcsec: 4 }))).groups;
  assertEquals([g8[0] === g8[1], g8[2] === g8[3], g8[0] === g8[2]], [true, true, false]);
  await assertRejects(
    () => loadCatalog(options(file, { groupBy: "sky" })),
    StarmambaError,
    "group_radius_arcsec",
  );
});

Deno.test("loadCatalog: the bad inputs each stop with the line and the fix", async () => {
  const cases: [string, string][] = [
    ["path,frame\nimg/a.png,F1\n", 'no "label" column'],
    ["name,label\nimg/a.png,star\n", 'no "path" column'],
    ["path,label\nimg/a.png,star\nimg/zz.png,galaxy\n", "line 3 (img/zz.png): unreadable"],
    ["path,label\nimg/a.png,star\nimg/b.png,\nimg/c.png,galaxy\n", "line 3 (img/b.png): no label"],
    [
      "path,label\nimg/a.png,star\nimg/b.png,galaxy\nimg/a.png,star\n",
      "duplicate path (also on line 2)",
    ],
    ["path,label,ra,dec\nimg/a.png,star,10,91\nimg/b.png,galaxy,10,0\n", "line 2 (img/a.png): dec"],
    ["path,label,ra,dec\nimg/a.png,star,360,0\nimg/b.png,galaxy,10,0\n", 'ra "360"'],
    ["path,label,ra\nimg/a.png,star,1\n", 'no "dec" column'],
    ["path,label\nimg/a.png,star\nimg/b.png,star\n", "1 class(es)"],
    ["path,label\nimg/a.png,star,extra\n", "3 fields, the header has 2"],
    ['path,label\n"img/a.png,star\n', "not a valid CSV"],
  ];
  for (const [csv, message] of cases) {
    const file = await scene(csv);
    await assertRejects(() => loadCatalog(options(file)), StarmambaError, message);
  }
  // A label outside the model's classes (prediction with a trained run).
  const file = await scene("path,label\nimg/a.png,star\nimg/b.png,qso\n");
  await assertRejects(
    () => loadCatalog(options(file, { requireLabels: false, classNames: ["galaxy", "star"] })),
    StarmambaError,
    'line 3 (img/b.png): label "qso" is not one of the classes galaxy, star',
  );
  // Unreadable images can be skipped instead, and are then listed.
  const skip = await scene("path,label\nimg/a.png,star\nimg/zz.png,galaxy\nimg/b.png,galaxy\n");
  const ds = await loadCatalog(options(skip, { onBadFile: "skip" }));
  assertEquals([ds.files, ds.skipped], [["img/a.png", "img/b.png"], ["img/zz.png"]]);
  // Prediction needs no labels.
  const unlabelled = await scene("path\nimg/a.png\nimg/b.png\n");
  const p = await loadCatalog(
    options(unlabelled, { requireLabels: false, classNames: ["galaxy", "star"] }),
  );
  assertEquals([...p.labels], [-1, -1]);
});

Deno.test("parseGroupBy: the four forms, and a clear error otherwise", () => {
  for (const g of ["name", "frame", "sky", "column:field"]) assertEquals(parseGroupBy(g), g);
  for (const g of ["column:", "position", ""]) {
    let err: unknown;
    try {
      parseGroupBy(g);
    } catch (e) {
      err = e;
    }
    assert(err instanceof StarmambaError && err.message.includes("column:<name>"));
  }
});

Deno.test("loadCatalog: a FITS cutout reads like the PNG of the same pixels (identity stretch), blanks become the median", async () => {
  const file = await scene("path,label\nimg/a.png,star\nimg/b.png,galaxy\nimg/a.fits,star\n");
  // FITS stores the bottom row first: write a.png's rows bottom-up as k/255.
  const px = Array.from({ length: 16 }, (_, p) => ((7 * p) % 256) / 255);
  const bottomUp = [3, 2, 1, 0].flatMap((y) => px.slice(4 * y, 4 * y + 4));
  await Deno.writeFile(join(file, "..", "img", "a.fits"), writeFitsFloat32(4, 4, bottomUp));
  const ds = await loadCatalog(options(file));
  assertEquals(ds.images.subarray(32, 48), ds.images.subarray(0, 16));
  assertEquals(ds.blank, { files: 0, pixels: 0 });
  // Two NaN pixels: replaced by the median of the other 14.
  const holed = bottomUp.map((v, i) => (i === 0 || i === 9 ? NaN : v));
  await Deno.writeFile(join(file, "..", "img", "a.fits"), writeFitsFloat32(4, 4, holed));
  const h = await loadCatalog(options(file));
  const rest = px.filter((_, p) => p !== 12 && p !== 5).sort((a, b) => a - b);
  const median = Math.fround((rest[6] + rest[7]) / 2);
  assertEquals([h.images[32 + 12], h.images[32 + 5]], [median, median]);
  assertEquals(h.blank, { files: 1, pixels: 2 });
});

Deno.test("catalogOfImageFolder: the ImageFolder's files in its order; the catalogue loads the same dataset", async () => {
  const root = await Deno.makeTempDir();
  for (const cls of ["star", "galaxy"]) await Deno.mkdir(join(root, cls));
  const names = ["J1530p2310_r_01_10_12_1.png", "WASP-24_R01_5_6_6.png", "a_1_2_3.png"];
  for (const [i, n] of names.entries()) {
    await png(join(root, "star", n), 3 * i);
    await png(join(root, "galaxy", n), 3 * i + 100);
  }
  const rows = await catalogOfImageFolder(root);
  assertEquals(rows[0], ["path", "label", "frame"]);
  assertEquals(rows[1], ["galaxy/J1530p2310_r_01_10_12_1.png", "galaxy", "J1530p2310_r_01"]);
  const csv = rows.map((r) => r.join(",")).join("\n") + "\n";
  await Deno.writeTextFile(join(root, "sources.csv"), csv);
  const cache = join(root, ".cache");
  const folder = await loadImageFolder({
    root,
    size: 4,
    channels: 3,
    resize: "reject",
    onBadFile: "error",
    cacheDir: cache,
  });
  const cat = await loadCatalog({
    ...options(join(root, "sources.csv")),
    channels: 3,
    cacheDir: cache,
  });
  assertEquals(cat.files, folder.files);
  assertEquals(cat.labels, folder.labels);
  assertEquals(cat.classNames, folder.classNames);
  assertEquals(cat.images, folder.images);
  assertEquals(cat.groups, ["J1530+2310", "WASP-24", "A", "J1530+2310", "WASP-24", "A"]);
});

Deno.test("loadCatalog: a label outside the data's classes (Star, qso) stops at its line; data.classes admits others", async () => {
  const star = await scene("path,label\nimg/a.png,star\nimg/b.png,Star\nimg/c.png,galaxy\n");
  await assertRejects(
    () => loadCatalog(options(star)),
    StarmambaError,
    'line 3 (img/b.png): label "Star" is not one of the classes galaxy, star (did you mean star?',
  );
  const qso = await scene("path,label\nimg/a.png,star\nimg/b.png,galaxy\nimg/c.png,qso\n");
  await assertRejects(
    () => loadCatalog(options(qso)),
    StarmambaError,
    'line 4 (img/c.png): label "qso" is not one of the classes galaxy, star (a catalogue\'s ' +
      "classes are data.classes: list qso there",
  );
  // Listed, qso is a third class; label indices follow the names sorted, as an ImageFolder's.
  const three = await loadCatalog(options(qso, { classes: ["star", "galaxy", "qso"] }));
  assertEquals(three.classNames, ["galaxy", "qso", "star"]);
  assertEquals([...three.labels], [2, 0, 1]);
  // A listed class that labels no row would leave the network an output it never learns.
  const two = await scene(GOOD);
  await assertRejects(
    () => loadCatalog(options(two, { classes: ["galaxy", "qso", "star"] })),
    StarmambaError,
    "no row is labelled qso, which data.classes lists (galaxy, qso, star)",
  );
  // Prediction checks labels against the model's classes, with the same case hint.
  await assertRejects(
    () => loadCatalog(options(star, { requireLabels: false, classNames: ["galaxy", "star"] })),
    StarmambaError,
    "did you mean star?",
  );
});

Deno.test("loadCatalog: a catalogue that is not UTF-8 is refused with its first bad line and iconv", async () => {
  const file = await scene("");
  const latin1 = Uint8Array.from(
    [..."path,label,name\nimg/a.png,star,x\nimg/b.png,galaxy,\xe9toile\n"],
    (c) => c.charCodeAt(0),
  );
  Deno.writeFileSync(file, latin1);
  await assertRejects(
    () => loadCatalog(options(file)),
    StarmambaError,
    `${file}: line 3 is not UTF-8 text; convert the catalogue, e.g. iconv -f latin1 -t utf-8`,
  );
  // Excel's "Unicode text" is UTF-16 with a byte-order mark.
  const text = "path,label\nimg/a.png,star\n";
  const utf16 = new Uint8Array(2 + 2 * text.length);
  utf16.set([0xff, 0xfe]);
  for (let i = 0; i < text.length; i++) utf16[2 + 2 * i] = text.charCodeAt(i);
  Deno.writeFileSync(file, utf16);
  await assertRejects(
    () => loadCatalog(options(file)),
    StarmambaError,
    "line 1 is not UTF-8 text; convert the catalogue, e.g. iconv -f utf-16 -t utf-8",
  );
});

Deno.test("loadCatalog: ±Inf FITS pixels become the median and are counted, as NaN are", async () => {
  const file = await scene("path,label\nimg/a.png,star\nimg/b.png,galaxy\nimg/a.fits,star\n");
  // Stored value i is i/16 (FITS rows bottom first); +Inf at stored 0 (bottom row, x 0: image
  // pixel 12 after the flip), -Inf at stored 9 (FITS row 2, x 1: image row 1, pixel 5).
  const stored = Array.from({ length: 16 }, (_, i) => i / 16);
  stored[0] = Infinity;
  stored[9] = -Infinity;
  await Deno.writeFile(join(file, "..", "img", "a.fits"), writeFitsFloat32(4, 4, stored));
  const ds = await loadCatalog(options(file));
  // The other 14 values are k/16 for k ≠ 0, 9: their median is (7/16 + 8/16) / 2.
  const median = Math.fround(15 / 32);
  assertEquals([ds.images[32 + 12], ds.images[32 + 5]], [median, median]);
  assertEquals(ds.blank, { files: 1, pixels: 2 });
  assert(ds.images.subarray(32, 48).every(Number.isFinite));
});
