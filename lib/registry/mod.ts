/**
 * The released models: names that resolve to published run folders with their weights, and
 * what `deno task models` shows of them.
 * @module
 */
export {
  looksLikeName,
  RELEASED,
  type ReleasedModel,
  releasedModel,
  REPO_ROOT,
  resolveModel,
} from "./released.ts";
export { describeReleased, type ModelRow, modelsTable } from "./describe.ts";
export { modelCard, modelCards } from "./card.ts";
