// The TypeScript side type-checks in strict mode (tsconfig.json): the
// compiler, not a reviewer, holds the line on types across hypervisor/,
// test/, bench/ and the generator.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";

test("tsc --noEmit -p . reports no errors", () => {
  const r = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."], { encoding: "utf8" });
  const errors = (r.stdout + r.stderr).split("\n").filter((l) => / error TS\d+/.test(l));
  assert.equal(errors, [], errors.join("\n"));
  assert.is(r.status, 0, r.stdout + r.stderr);
});
test.run();
