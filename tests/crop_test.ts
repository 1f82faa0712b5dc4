import { assertEquals, assertThrows } from "../lib/util/assert.ts";
import { centerCrop, centerCropPixels } from "../lib/data/crop.ts";
import { StarmambaError } from "../lib/util/errors.ts";

/** Pixel value encoding image, row, column and channel, so any misplaced copy shows. */
const code = (i: number, y: number, x: number, c: number) => 1000 * i + 100 * y + 10 * x + c;

function images(n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(n * h * w * c);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) out[((i * h + y) * w + x) * c + k] = code(i, y, x, k);
      }
    }
  }
  return out;
}

Deno.test("center crop: hand-worked 4×4 → 2×2 windows of two 2-channel images", () => {
  const out = centerCropPixels(images(2, 4, 4, 2), 2, 4, 4, 2, 2);
  assertEquals(Array.from(out), [
    // image 0: rows 1-2, columns 1-2
    110,
    111,
    120,
    121,
    210,
    211,
    220,
    221,
    // image 1
    1110,
    1111,
    1120,
    1121,
    1210,
    1211,
    1220,
    1221,
  ]);
});

Deno.test("center crop: odd margins put the extra pixel after the window; too large is an error", () => {
  // 5×5 → 2×2: margin 3 splits 1 before, 2 after.
  assertEquals(Array.from(centerCropPixels(images(1, 5, 5, 1), 1, 5, 5, 1, 2)), [
    110,
    120,
    210,
    220,
  ]);
  assertThrows(
    () => centerCropPixels(images(1, 4, 4, 1), 1, 4, 4, 1, 8),
    StarmambaError,
    "center_crop",
  );
});

Deno.test("center crop of a dataset keeps labels and files and sets the new size", () => {
  const ds = {
    images: images(2, 4, 4, 1),
    labels: Int32Array.from([1, 0]),
    n: 2,
    height: 4,
    width: 4,
    channels: 1,
    classNames: ["galaxy", "star"],
    files: ["a.png", "b.png"],
  };
  const c = centerCrop(ds, 2);
  assertEquals([c.height, c.width, c.n, c.channels], [2, 2, 2, 1]);
  assertEquals(c.files, ds.files);
  assertEquals(Array.from(c.labels), [1, 0]);
  assertEquals(Array.from(c.images), [110, 120, 210, 220, 1110, 1120, 1210, 1220]);
});
