/**
 * `deno task audit-labels <sweep>…` — the label audit of a cross-validation (lib/results/audit.ts):
 * confident learning on the pooled out-of-fold predictions flags the images whose given label
 * the networks confidently reject; writes audit.csv, audit.json and audit.svg.
 * @module
 */
import { join } from "node:path";
import { numberOption, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { checkOutputDir } from "../lib/util/fs.ts";
import { LABEL_ISSUE_FILTERS, type LabelIssueFilter } from "../lib/metrics/confident_learning.ts";
import {
  auditDataRoot,
  type AuditFigures,
  auditLabels,
  poolOutOfFold,
  readOutOfFold,
  writeAudit,
} from "../lib/results/audit.ts";

const USAGE = `usage: deno task audit-labels <sweep>… [--out <dir>] [--filter <rule>] [--top <n>]
                                   [--data <root>]

Confident learning (Northcutt, Jiang & Chuang 2021) on the pooled out-of-fold predictions of a
cross-validation sweep (results/ablations/<name>/<version>, the folder with cv.json): flags the
images whose given label the networks confidently reject. Several sweeps (networks): their
probabilities are averaged per image first.

Writes into --out (default <sweep>/audit; required with several sweeps):
  audit.csv   every image: flagged first, then by P(given label) ascending
  audit.json  thresholds, confident joint, counts flagged per class; the figures on all images
              (the headline) and on unflagged images (not the headline)
  audit.svg   the --top surest suspects, each beside 3 confident images of each class from
              its own frame

Options:
  --out <dir>      output folder
  --filter <rule>  ${LABEL_ISSUE_FILTERS.join(", ")} (default ${LABEL_ISSUE_FILTERS[0]})
  --top <n>        suspects on the sheet (default 20; 0: no sheet, no images read)
  --data <root>    the images (default: the runs' data.root, else STARMAMBA_DATA)`;

/** One line of figures: accuracy, balanced accuracy, ROC-AUC, images. */
function line(f: AuditFigures): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return `accuracy ${pct(f.accuracy)}, balanced ${pct(f.balanced_accuracy)}, ROC-AUC ${
    f.roc_auc.toFixed(4)
  } (${f.n} images)`;
}

runMain(async () => {
  const { values, positionals } = parseArgs(Deno.args, {
    out: { type: "string" },
    filter: { type: "string" },
    top: { type: "string" },
    data: { type: "string" },
  }, USAGE);
  if (positionals.length === 0) {
    throw new StarmambaError(
      "give a cross-validation sweep folder (results/ablations/<name>/<version>)",
    );
  }
  const filter = (values.filter as string | undefined) ?? LABEL_ISSUE_FILTERS[0];
  if (!(LABEL_ISSUE_FILTERS as readonly string[]).includes(filter)) {
    throw new StarmambaError(`--filter ${filter}: use one of ${LABEL_ISSUE_FILTERS.join(", ")}`);
  }
  const top = numberOption("top", values.top, 0, 1000) ?? 20;
  if (!Number.isInteger(top)) throw new StarmambaError(`--top ${top}: give a whole number`);
  if (positionals.length > 1 && !values.out) {
    throw new StarmambaError(
      "several sweeps: give --out <dir> (the audit belongs to none of them)",
    );
  }
  const out = (values.out as string | undefined) ?? join(positionals[0], "audit");
  checkOutputDir(out, "--out");
  const oof = poolOutOfFold(positionals.map(readOutOfFold));
  const audit = auditLabels(oof, filter as LabelIssueFilter);
  const root = top > 0 ? auditDataRoot(oof, values.data as string | undefined) : null;
  const written = await writeAudit(out, audit, root ? { root, top } : null);
  const flagged = audit.issues.countsByFilter[audit.issues.filter];
  const perClass = oof.classNames.map((c, i) => `${c} ${flagged[i]}`).join(", ");
  console.log(
    `flagged ${flagged.reduce((s, x) => s + x, 0)} of ${oof.files.length} images (${perClass}) ` +
      `by ${filter}\nall images (the headline): ${line(audit.all)}\n` +
      `on unflagged images (not the headline): ${line(audit.unflagged)}\nwrote ${
        written.join(", ")
      }`,
  );
  return 0;
});
