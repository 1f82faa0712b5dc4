/**
 * OpenMP workers spin for a while after each parallel region. When Deno closed the native
 * library while they spun (a test module's isolate ending), their code was unmapped under
 * them and the process died with SIGSEGV; the workaround, OMP_WAIT_POLICY=passive, cost up to
 * 2× in training speed. The library is now linked with -z nodelete. This test runs two test
 * modules that use the native gemm on two threads with workers that spin indefinitely
 * (OMP_WAIT_POLICY=active): the run must end cleanly.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../lib/util/assert.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";

const NATIVE = new URL("../lib/backends/wasm/native.ts", import.meta.url).href;

const MODULE = `
import { loadNativeKernel } from "${NATIVE}";
Deno.test("native gemm on two threads", () => {
  const k = loadNativeKernel({ threads: 2, quiet: true });
  if (!k) return;
  const n = 128, a = new Float32Array(n * n).fill(1), c = new Float32Array(n * n);
  for (let i = 0; i < 20; i++) k.gemm(n, n, n, a, false, a, false, c);
  if (c[0] !== n) throw new Error("gemm gave " + c[0]);
});
`;

Deno.test({
  name: "Deno exits cleanly after native kernels with spinning OpenMP workers (two modules)",
  ignore: loadNativeKernel({ quiet: true }) === null,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const files = ["a_test.ts", "b_test.ts"].map((f) => join(dir, f));
      for (const f of files) Deno.writeTextFileSync(f, MODULE);
      const out = new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--no-check", ...files],
        env: { OMP_WAIT_POLICY: "active", OMP_NUM_THREADS: "2", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).outputSync();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 0, `exit code ${out.code} (signal ${out.signal}):\n${text}`);
      assert(text.includes("2 passed"), text);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
