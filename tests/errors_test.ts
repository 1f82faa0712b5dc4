import sharp from "sharp";
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../lib/util/assert.ts";
import { confidentErrors, errorsCsv, errorSheetSvg } from "../lib/results/errors.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const classes = ["galaxy", "star"];

Deno.test("confidentErrors: only arg-max mistakes, surest first, ties by file name", () => {
  const files = ["g/a.jpg", "s/b.jpg", "g/c.jpg", "s/d.jpg", "g/e.jpg", "s/f.jpg"];
  const labels = [0, 1, 0, 1, 0, 1];
  // a: right (0.9 galaxy); b: wrong, P(galaxy) 0.7; c: wrong, P(star) 0.95; d: right;
  // e: wrong, P(star) 0.7 — ties with b, and "g/e" sorts before "s/b"; f: wrong, P(galaxy) 0.6.
  const probs = [0.9, 0.1, 0.7, 0.3, 0.05, 0.95, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4];
  const rows = confidentErrors(files, labels, Float32Array.from(probs), classes);
  assertEquals(rows.map((r) => r.file), ["g/c.jpg", "g/e.jpg", "s/b.jpg", "s/f.jpg"]);
  assertEquals(rows.map((r) => [r.label, r.predicted]), [
    ["galaxy", "star"],
    ["galaxy", "star"],
    ["star", "galaxy"],
    ["star", "galaxy"],
  ]);
  assertEquals(rows[0].confidence, Math.fround(0.95));
  assertEquals(rows[0].probs, [Math.fround(0.05), Math.fround(0.95)]);
  assertEquals(confidentErrors(["x"], [1], [0.2, 0.8], classes), []);
  assertThrows(() => confidentErrors(["x"], [1], [0.2], classes), RangeError);
});

Deno.test("errorsCsv: header with one probability column per class; commas in names quoted", () => {
  const csv = errorsCsv([
    {
      file: "g/a,b.jpg",
      label: "galaxy",
      predicted: "star",
      confidence: 0.75,
      probs: [0.25, 0.75],
    },
  ], classes);
  assertEquals(
    csv,
    'file,label,predicted,confidence,p_galaxy,p_star\n"g/a,b.jpg",galaxy,star,0.750000,0.250000,0.750000\n',
  );
});

Deno.test("errorSheetSvg: one embedded tile per row that decodes to the enlarged image, with captions", async () => {
  const root = await Deno.makeTempDir();
  try {
    Deno.mkdirSync(join(root, "galaxy"));
    // A 4×4 grey ramp: enlarged ×8 with nearest-neighbour, each source pixel becomes an 8×8 block.
    const ramp = Uint8Array.from({ length: 16 }, (_, i) => i * 16);
    await sharp(ramp, { raw: { width: 4, height: 4, channels: 1 } }).png()
      .toFile(join(root, "galaxy", "a<b.png"));
    const rows = [
      {
        file: "galaxy/a<b.png",
        label: "galaxy",
        predicted: "star",
        confidence: 0.9,
        probs: [0.1, 0.9],
      },
    ];
    const svg = await errorSheetSvg(rows, root, { columns: 3, tile: 32, title: "t & u" });
    assertEquals(svg, await errorSheetSvg(rows, root, { columns: 3, tile: 32, title: "t & u" }));
    const hrefs = [...svg.matchAll(/href="data:image\/png;base64,([^"]+)"/g)].map((m) => m[1]);
    assertEquals(hrefs.length, 1);
    const png = Uint8Array.from(atob(hrefs[0]), (ch) => ch.charCodeAt(0));
    const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    assertEquals([info.width, info.height], [32, 32]);
    for (const [y, x] of [[0, 0], [7, 7], [8, 8], [31, 0], [20, 27]]) {
      assertEquals(
        data[y * 32 + x],
        ramp[Math.floor(y / 8) * 4 + Math.floor(x / 8)],
        `pixel ${y},${x}`,
      );
    }
    assert(svg.includes("galaxy → star 0.90"), svg);
    assert(svg.includes("a&lt;b.png") && svg.includes("t &amp; u"), "names and title escaped");
    await assertRejects(
      () => errorSheetSvg([{ ...rows[0], file: "galaxy/missing.png" }], root),
      StarmambaError,
      "missing.png",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
