import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { dihedral } from "../lib/data/geometric.ts";
import { modelConfig } from "../lib/model/config.ts";
import { buildMedMamba } from "../lib/model/medmamba.ts";
import { evalContext } from "../lib/model/layers.ts";
import { validateConfig } from "../lib/config/load.ts";
import { predict, predictSettings } from "../lib/train/predict.ts";
import type { Dataset } from "../lib/data/types.ts";
import { selectScanKernel } from "../lib/backends/select.ts";

Deno.test("dihedral views of a 2×2 image, hand-worked", () => {
  // a b / c d, one channel
  const img = Float32Array.of(1, 2, 3, 4);
  const views = [...Array(8).keys()].map((t) => Array.from(dihedral(img, 2, 1, t)));
  assertEquals(views, [
    [1, 2, 3, 4], // identity
    [2, 4, 1, 3], // quarter turn counter-clockwise (np.rot90)
    [4, 3, 2, 1], // half turn
    [3, 1, 4, 2], // three quarter turns
    [2, 1, 4, 3], // mirrored
    [1, 3, 2, 4], // mirrored, then rot90
    [3, 4, 1, 2], // mirrored, then half turn
    [4, 2, 3, 1], // mirrored, then 270°
  ]);
  assertThrows(() => dihedral(img, 2, 1, 8), RangeError);
});

Deno.test("train.tta averages the softmax over the 8 views (tf.reverse/transpose reference)", async () => {
  await setupBackend("cpu");
  selectScanKernel("loop");
  const m = buildMedMamba(
    modelConfig("cpu", { dim: 8, depths: [1, 1, 1, 1], image_size: 32, num_classes: 2 }),
    3,
  );
  const n = 5, s = 32, c = 3;
  const images = Float32Array.from(
    { length: n * s * s * c },
    (_, i) => Math.sin(i * 0.013) * 0.5 + 0.5,
  );
  const ds: Dataset = {
    images,
    labels: Int32Array.of(0, 1, 0, 1, 1),
    n,
    height: s,
    width: s,
    channels: c,
    classNames: ["galaxy", "star"],
  };
  const cfg = validateConfig({ train: { tta: true, eval_batch_size: 2 } });
  const got = predict(m, ds, [0, 1, 2, 3, 4], predictSettings(cfg)).probs;
  const plain = predict(m, ds, [0, 1, 2, 3, 4], predictSettings(validateConfig({}))).probs;
  // Reference: the 8 views built with tensor ops on the normalised batch.
  const mean = cfg.augment.normalize_mean, std = cfg.augment.normalize_std;
  const want = tf.tidy(() => {
    const x = tf.div(tf.sub(tf.tensor4d(images, [n, s, s, c]), mean), std) as tf.Tensor4D;
    const rot = (t: tf.Tensor4D) => tf.reverse(tf.transpose(t, [0, 2, 1, 3]), 1) as tf.Tensor4D;
    const views: tf.Tensor4D[] = [];
    for (const base of [x, tf.reverse(x, 2) as tf.Tensor4D]) {
      let v = base;
      for (let q = 0; q < 4; q++) {
        views.push(v);
        v = rot(v);
      }
    }
    const ps = views.map((v) => tf.softmax(m.forward(v, evalContext())));
    return tf.div(tf.addN(ps), 8).dataSync() as Float32Array;
  });
  assertAllClose(got, want, 1e-5, 1e-6, "tta probabilities");
  const diff = got.reduce((a, v, i) => a + Math.abs(v - plain[i]), 0);
  assertEquals(diff > 1e-4, true, "tta differs from a single view");
  m.params.dispose();
});
