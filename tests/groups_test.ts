import { assertEquals, assertThrows } from "../lib/util/assert.ts";
import { formatGroupsMarkdown, metricsByGroup } from "../lib/metrics/groups.ts";

const classes = ["galaxy", "star"];
const groupOf = (f: string) => f.split("_")[0];

Deno.test("metricsByGroup: hand-worked counts per group; a class absent from a group has recall null", () => {
  // A: galaxy right, galaxy wrong, star right. B: star wrong, star right. C: galaxy right.
  const files = ["A_1", "A_2", "B_1", "A_3", "C_1", "B_2"];
  const labels = [0, 0, 1, 1, 0, 1];
  const probs = [0.8, 0.2, 0.4, 0.6, 0.9, 0.1, 0.3, 0.7, 0.6, 0.4, 0.2, 0.8];
  const rows = metricsByGroup(files, labels, probs, classes, groupOf);
  assertEquals(rows.map((r) => [r.group, r.n, r.correct]), [["A", 3, 2], ["B", 2, 1], ["C", 1, 1]]);
  assertEquals(rows[0].accuracy, 2 / 3);
  assertEquals(rows[0].perClass.galaxy, { support: 2, recognised: 1, recall: 0.5 });
  assertEquals(rows[0].perClass.star, { support: 1, recognised: 1, recall: 1 });
  assertEquals(rows[1].perClass.galaxy, { support: 0, recognised: 0, recall: null });
  assertEquals(rows[1].perClass.star, { support: 2, recognised: 1, recall: 0.5 });
  assertEquals(
    formatGroupsMarkdown(rows, classes).split("\n").slice(2, 5),
    [
      "| A | 3 | 2/3 (67%) | 1/2 (50%) | 1/1 (100%) |",
      "| B | 2 | 1/2 (50%) | – | 1/2 (50%) |",
      "| C | 1 | 1/1 (100%) | 1/1 (100%) | – |",
    ],
  );
  assertThrows(() => metricsByGroup(["A_1"], [0], [0.5], classes, groupOf), RangeError);
});
