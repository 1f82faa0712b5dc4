import { assertEquals, assertThrows } from "../lib/util/assert.ts";
import { medianPlane, withFieldContext } from "../lib/data/context.ts";
import { frameOf } from "../lib/data/splits.ts";
import type { Dataset } from "../lib/data/types.ts";
import { StarmambaError } from "../lib/util/errors.ts";

Deno.test("frameOf: the exposure, without folder, extension, position and class code", () => {
  assertEquals(frameOf("galaxy/J125219p264053_001_010_344_470_3.jpg"), "J125219p264053_001_010");
  assertEquals(frameOf("star/J1252p2640_r_01_10_1893_1551_6.jpg"), "J1252p2640_r_01_10");
  assertEquals(frameOf("C:\\data\\star\\IC745_H01_523_254_6.jpg"), "IC745_H01");
  assertEquals(frameOf("star/odd-name.png"), "odd-name");
});

Deno.test("medianPlane: hand-worked odd and even counts, channel 0 only", () => {
  // Three 1×2 images with 2 channels; channel 1 holds values that must be ignored.
  const images = Float32Array.from([1, 99, 5, 99, 3, 99, 2, 99, 2, 99, 9, 99]);
  assertEquals(Array.from(medianPlane(images, [0, 1, 2], 1, 2, 2)), [2, 5]);
  assertEquals(Array.from(medianPlane(images, [0, 2], 1, 2, 2)), [1.5, 7]);
  assertEquals(Array.from(medianPlane(images, [1], 1, 2, 2)), [3, 2]);
  assertThrows(() => medianPlane(images, [], 1, 2, 2), RangeError);
});

/** The definition: sort each pixel's column (Float32Array order: −0 before +0, NaN last). */
function medianBySort(images: Float32Array, members: number[], hw: number, c: number): number[] {
  return Array.from({ length: hw }, (_, p) => {
    const col = Float32Array.from(members, (i) => images[(i * hw + p) * c]).sort();
    const m = col.length;
    return m % 2 === 1 ? col[m >> 1] : Math.fround((col[m / 2 - 1] + col[m / 2]) / 2);
  });
}

Deno.test("medianPlane: selection gives the sort's bits (ties, ±0, NaN, tile edges)", () => {
  let state = 7;
  const rand = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pool = [0, -0, 1, -1, 0.5, 0.5, 2, -3.25, 1e-38, -1e-38, Infinity, -Infinity];
  for (
    const [n, hw, c, nanRate] of [[1, 3, 1, 0], [2, 17, 3, 0], [5, 33, 2, 0], [64, 40, 3, 0], [
      257,
      18,
      1,
      0.02,
    ], [1000, 20, 3, 0]]
  ) {
    const images = new Float32Array(n * hw * c);
    for (let i = 0; i < images.length; i++) {
      const r = rand();
      images[i] = r < nanRate
        ? NaN
        : r < 0.5
        ? pool[Math.floor(rand() * pool.length)]
        : rand() - 0.5;
    }
    for (const members of [[...Array(n).keys()], [...Array(n).keys()].filter((i) => i % 3 !== 1)]) {
      if (members.length === 0) continue;
      const got = Array.from(medianPlane(images, members, 1, hw, c));
      // assertEquals tells −0 from +0 and NaN equals NaN: the same bits, value by value
      assertEquals(got, medianBySort(images, members, hw, c), `n ${n}, ${members.length} members`);
    }
  }
});

function greyDataset(values: number[][], files: string[]): Dataset {
  const hw = values[0].length;
  const images = new Float32Array(values.length * hw * 3);
  values.forEach((img, i) =>
    img.forEach((v, p) => images.fill(v, (i * hw + p) * 3, (i * hw + p) * 3 + 3))
  );
  return {
    images,
    labels: new Int32Array(values.length),
    n: values.length,
    height: 1,
    width: hw,
    channels: 3,
    classNames: ["galaxy", "star"],
    files,
  };
}

Deno.test("withFieldContext: channels (cutout, frame median, 0.5 + difference/2) per frame", () => {
  const ds = greyDataset(
    [[0.2, 0.4], [0.6, 0.0], [1.0, 0.8], [0.5, 0.5]],
    ["star/A_1_1_6.png", "galaxy/B_1_1_3.png", "star/A_2_2_6.png", "star/A_3_3_6.png"],
  );
  const { dataset, frames, smallestFrame, frameCounts } = withFieldContext(ds);
  assertEquals([frames, smallestFrame], [2, 1]);
  assertEquals(frameCounts, new Map([["A", 3], ["B", 1]]));
  const px = (i: number, p: number) =>
    Array.from(dataset.images.subarray((i * 2 + p) * 3, (i * 2 + p) * 3 + 3));
  // Frame A = images 0, 2, 3: median (0.5, 0.5). Frame B = image 1 alone: its own pixels.
  const f = Math.fround;
  assertEquals(px(0, 0), [f(0.2), 0.5, f(0.5 + (f(0.2) - 0.5) / 2)]);
  assertEquals(px(2, 1), [f(0.8), 0.5, f(0.5 + (f(0.8) - 0.5) / 2)]);
  assertEquals(px(1, 0), [f(0.6), f(0.6), 0.5]);
  assertEquals(dataset.labels, ds.labels);
  assertEquals(ds.images[1], f(0.2), "input untouched");
  assertThrows(() => withFieldContext({ ...ds, channels: 1 }), StarmambaError, "channels: 3");
  assertThrows(() => withFieldContext({ ...ds, files: undefined }), StarmambaError, "file names");
});

Deno.test("withFieldContext keyed by file (evaluate --context single): each cutout its own template", () => {
  const ds = greyDataset(
    [[0.2, 0.4], [0.6, 0.0], [1.0, 0.8]],
    ["star/A_1_1_6.png", "galaxy/A_2_2_3.png", "star/A_3_3_6.png"],
  );
  const { dataset, frames, frameCounts } = withFieldContext(ds, (file) => file);
  assertEquals(frames, 3);
  assertEquals([...frameCounts.values()], [1, 1, 1]);
  for (let i = 0; i < 3 * 2; i++) {
    const [c0, c1, c2] = dataset.images.subarray(3 * i, 3 * i + 3);
    assertEquals([c1, c2], [c0, 0.5]);
  }
});
