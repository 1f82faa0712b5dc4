/**
 * DS9 region files (lib/frames/regions.ts): hand-worked expected text for both coordinate
 * systems, every line parsed by a regular expression of DS9 4.1's region grammar (comment,
 * global properties, coordinate system, circle with properties), and bad input.
 */
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { CLASS_COLORS, classColor, ds9Regions, type RegionSource } from "../lib/frames/regions.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const GLOBAL = 'global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman" ' +
  "select=1 highlite=1 dash=0 fixed=0 edit=1 move=1 delete=1 include=1 source=1";

const SOURCES: RegionSource[] = [
  { x: 101.5, y: 240.25, radius: 6, cls: "galaxy", p: 0.874, label: "17" },
  { x: 3, y: 2, radius: 4.5, cls: "star", p: 0.005 },
  { x: 2048.0004, y: 0.5, radius: 6, cls: "galaxy", p: 1 },
];

// ---- DS9 4.1's grammar, as far as these files use it ----
const NUMBER = String.raw`[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?`;
/** A property: name=value, value a word, a #rrggbb colour, "quoted", or {braced}. */
const PROPERTY = String.raw`[a-z]+=(?:\{[^{}]*\}|"[^"]*"|#[0-9A-Fa-f]{6}|[A-Za-z0-9.]+(?: \d+)*)`;
const LINE_KINDS: [string, RegExp][] = [
  ["comment", /^#.*$/],
  ["global", new RegExp(String.raw`^global(?: ${PROPERTY})+$`)],
  ["system", /^(?:image|physical|fk4|fk5|icrs|galactic|ecliptic|wcs)$/],
  [
    "circle",
    new RegExp(
      String
        .raw`^circle\((${NUMBER}),(${NUMBER}),(${NUMBER})"?\)(?: # (${PROPERTY}(?: ${PROPERTY})*))?$`,
    ),
  ],
];

/** Every line's kind; throws on a line DS9's grammar does not allow. */
function parseRegions(text: string): string[] {
  assert(text.endsWith("\n"), "the file ends with a newline");
  return text.slice(0, -1).split("\n").map((line, i) => {
    const kind = LINE_KINDS.find(([, re]) => re.test(line));
    if (kind === undefined) throw new Error(`line ${i + 1} is not DS9 4.1: ${line}`);
    return kind[0];
  });
}

Deno.test("regions: image coordinates, hand-worked", () => {
  const text = ds9Regions(SOURCES, { system: "image" });
  assertEquals(
    text,
    [
      "# Region file format: DS9 version 4.1",
      GLOBAL,
      "# colour by class: galaxy=#E69F00 star=#56B4E9",
      "image",
      "circle(101.500,240.250,6.000) # color=#E69F00 text={17 0.87} tag={galaxy}",
      "circle(3.000,2.000,4.500) # color=#56B4E9 text={0.01} tag={star}",
      "circle(2048.000,0.500,6.000) # color=#E69F00 text={1.00} tag={galaxy}",
      "",
    ].join("\n"),
  );
  assertEquals(parseRegions(text), [
    "comment",
    "global",
    "comment",
    "system",
    ...Array(3).fill("circle"),
  ]);
});

Deno.test("regions: fk5 (RA, Dec in degrees, radius in arcseconds), hand-worked", () => {
  const sky = [
    { x: 150.11916667, y: 2.20583333, radius: 1.5, cls: "star", p: 0.12 },
    { x: 0.00000004, y: -89.99999994, radius: 2, cls: "galaxy", p: 0.5 },
  ];
  const text = ds9Regions(sky, { system: "fk5", colors: { star: "#ffffff" } });
  const lines = text.split("\n");
  assertEquals(lines[2], "# colour by class: galaxy=#E69F00 star=#ffffff");
  assertEquals(lines.slice(3), [
    "fk5",
    'circle(150.1191667,2.2058333,1.500") # color=#ffffff text={0.12} tag={star}',
    'circle(0.0000000,-89.9999999,2.000") # color=#E69F00 text={0.50} tag={galaxy}',
    "",
  ]);
  assertEquals(parseRegions(text), ["comment", "global", "comment", "system", "circle", "circle"]);
});

Deno.test("regions: the grammar check rejects what DS9 would reject", () => {
  // The check above must be able to fail: unbalanced braces, a stray word, a missing ")".
  for (const bad of ["circle(1,2,3) # text={a", "circle(1,2,3) color=red", "circle(1,2,3"]) {
    assertThrows(() => parseRegions(bad + "\n"), Error, "not DS9");
  }
});

Deno.test("regions: no sources gives header and system only", () => {
  const text = ds9Regions([], { system: "image" });
  assertEquals(text, `# Region file format: DS9 version 4.1\n${GLOBAL}\nimage\n`);
});

Deno.test("regions: class colours are Okabe–Ito, stable for other classes", () => {
  assertEquals(CLASS_COLORS, { galaxy: "#E69F00", star: "#56B4E9" });
  assertEquals(classColor("galaxy"), "#E69F00");
  assertEquals(classColor("qso"), classColor("qso"));
  assert(/^#[0-9A-F]{6}$/.test(classColor("qso")));
  assert(!Object.values(CLASS_COLORS).includes(classColor("qso")));
  assertEquals(classColor("star", { star: "#00ffff" }), "#00ffff");
  assertThrows(() => classColor("star", { star: "cyan" }), StarmambaError, '"star"');
});

Deno.test("regions: bad input is a StarmambaError naming the source", () => {
  const ok = SOURCES[1];
  const cases: [Partial<RegionSource>, string][] = [
    [{ x: NaN }, "not finite"],
    [{ radius: 0 }, "radius"],
    [{ p: 1.2 }, "probability"],
    [{ p: NaN }, "probability"],
    [{ cls: "star}" }, "class"],
    [{ cls: "" }, "class"],
    [{ label: "a{b" }, "label"],
    [{ label: "Mön" }, "label"],
  ];
  for (const [change, word] of cases) {
    const e = assertThrows(
      () => ds9Regions([ok, { ...ok, ...change }], { system: "image" }),
      StarmambaError,
      "source 2",
    );
    assert(e.message.includes(word), e.message);
  }
  assertThrows(
    () => ds9Regions([{ ...ok, y: 91 }], { system: "fk5" }),
    StarmambaError,
    "declination",
  );
  assertThrows(
    () => ds9Regions([ok], { system: "galactic" as "fk5" }),
    StarmambaError,
    "unknown system",
  );
});
