/**
 * The selective scan as ONNX nodes, in two forms to choose between by measurement:
 *
 * - `scan`: ONNX's Scan operator steps through the sequence, h_t = exp(Δ_t A) h_{t−1} +
 *   Δ_t u_t B_t, y_t = ⟨h_t, C_t⟩ — the recurrence as written, L sequential steps.
 * - `doubling`: the recurrence h_t = a_t h_{t−1} + b_t is an associative scan over pairs
 *   (a, b) ∘ (a', b') = (a a', a' b + b'), so log2(L) rounds of "combine with the element 2^r
 *   back" (Hillis–Steele) give every h_t with whole-tensor ops. Decays only multiply (all ≤ 1),
 *   so nothing cancels or overflows, unlike a cumulative sum of log-decays.
 *
 * Shapes follow the SS2D core: u, delta (N, K, d, L); A (K, d, N_s); B, C (N, K, N_s, L);
 * D (K, d, 1). The result y (N, K, d, L) includes the skip term D·u.
 * @module
 */
import { OnnxGraph } from "./graph.ts";
import { DataType } from "./proto.ts";

/** How the scan is written in the graph. */
export type OnnxScanForm = "scan" | "doubling";

/** Tensor names of the scan's inputs in `g`. */
export interface ScanTensors {
  /** Input u (N, K, d, L). */
  u: string;
  /** Step sizes Δ after softplus (N, K, d, L). */
  delta: string;
  /** State matrix A = −exp(A_logs) (K, d, N_s). */
  A: string;
  /** Input projection B (N, K, N_s, L). */
  B: string;
  /** Output projection C (N, K, N_s, L). */
  C: string;
  /** Skip D (K, d, 1). */
  D: string;
}

/** Appends the selective scan to `g` and returns the name of y (N, K, d, L). */
export function selectiveScanOnnx(
  g: OnnxGraph,
  t: ScanTensors,
  L: number,
  form: OnnxScanForm,
): string {
  // dA = exp(Δ ⊗ A), dBu = (Δ·u) ⊗ B, both (N, K, d, L, N_s); C as (N, K, 1, L, N_s).
  const deltaE = g.op1("Unsqueeze", [t.delta, g.ints([-1])]);
  const aE = g.op1("Unsqueeze", [t.A, g.ints([2])]);
  const dA = g.op1("Exp", [g.op1("Mul", [deltaE, aE])]);
  const du = g.op1("Unsqueeze", [g.op1("Mul", [t.delta, t.u]), g.ints([-1])]);
  const bT = g.op1("Unsqueeze", [
    g.op1("Transpose", [t.B], { perm: { ints: [0, 1, 3, 2] } }),
    g.ints([2]),
  ]);
  const cT = g.op1("Unsqueeze", [
    g.op1("Transpose", [t.C], { perm: { ints: [0, 1, 3, 2] } }),
    g.ints([2]),
  ]);
  const dBu = g.op1("Mul", [du, bT]);
  const y = form === "scan" ? viaScanOp(g, dA, dBu, cT) : viaDoubling(g, dA, dBu, cT, L);
  return g.op1("Add", [y, g.op1("Mul", [t.D, t.u])]);
}

/** The recurrence with ONNX's Scan operator over axis 3 (L). */
function viaScanOp(g: OnnxGraph, dA: string, dBu: string, cT: string): string {
  const body = new OnnxGraph("selective_scan_step", "step_");
  const [h, a, b, c] = ["h_in", "a_t", "bu_t", "c_t"];
  const hNext = body.op1("Add", [body.op1("Mul", [a, h]), b]);
  const y = body.op1("ReduceSum", [body.op1("Mul", [hNext, c]), body.ints([-1])], {
    keepdims: { i: 0 },
  });
  const hOut = body.op1("Identity", [hNext]);
  const bodyProto = body.proto(
    [h, a, b, c].map((name) => ({ name, elemType: DataType.FLOAT })),
    [hOut, y].map((name) => ({ name, elemType: DataType.FLOAT })),
  );
  // h_0 = 0 with the dynamic batch size: the first step's decays times zero.
  const h0 = g.op1("Mul", [g.op1("Gather", [dA, g.ints([0])], { axis: { i: 3 } }), g.scalar(0)]);
  const h0s = g.op1("Squeeze", [h0, g.ints([3])]);
  const [, ys] = g.op("Scan", [h0s, dA, dBu, cT], {
    body: { g: bodyProto },
    num_scan_inputs: { i: 3 },
    scan_input_axes: { ints: [3, 3, 3] },
    scan_output_axes: { ints: [3] },
  }, 2);
  return ys;
}

/** The recurrence as a Hillis–Steele prefix over axis 3 (L): ⌈log2 L⌉ whole-tensor rounds. */
function viaDoubling(g: OnnxGraph, dA: string, dBu: string, cT: string, L: number): string {
  let a = dA, b = dBu;
  for (let k = 1; k < L; k *= 2) {
    // The element k steps back (a := 1, b := 0 before the start).
    const aPrev = g.op1("Pad", [
      g.op1("Slice", [a, g.ints([0]), g.ints([L - k]), g.ints([3])]),
      g.ints([0, 0, 0, k, 0, 0, 0, 0, 0, 0]),
      g.scalar(1),
    ]);
    const bPrev = g.op1("Pad", [
      g.op1("Slice", [b, g.ints([0]), g.ints([L - k]), g.ints([3])]),
      g.ints([0, 0, 0, k, 0, 0, 0, 0, 0, 0]),
      g.scalar(0),
    ]);
    // (aPrev, bPrev) then (a, b): h = a·(aPrev·h0 + bPrev) + b.
    b = g.op1("Add", [g.op1("Mul", [a, bPrev]), b]);
    a = g.op1("Mul", [a, aPrev]);
  }
  return g.op1("ReduceSum", [g.op1("Mul", [b, cT]), g.ints([-1])], { keepdims: { i: 0 } });
}
