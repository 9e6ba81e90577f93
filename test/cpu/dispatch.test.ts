// Guard for the dispatch switch's shape: binaryen turns a run of `case`
// compares into one br_table only while the case range is at most 1024
// (RemoveUnusedBrs tablify MAX_RANGE); a larger switch silently became a
// linear compare chain (all instructions ~6x slower). cpu/gen/gen.ts splits
// the switch into chunks; this checks every chunk stays tablifiable.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
// paths are relative to the repository root (scripts/test.mjs runs there)

test("every dispatch switch covers at most 1024 consecutive ids, densely", () => {
  const src = readFileSync("cpu/dispatch.gen.ts", "utf8");
  const inner = src.split(/switch \(id\) \{/).slice(1).map((chunk) => [...chunk.matchAll(/case (\d+): return/g)].map((m) => +m[1]));
  assert.ok(inner.length >= 1);
  let total = 0;
  for (const ids of inner) {
    const range = Math.max(...ids) - Math.min(...ids);
    assert.ok(range <= 1024, `range ${range}`);
    assert.ok(range <= ids.length * 3, `sparse: ${ids.length} cases over ${range}`);
    total += ids.length;
  }
  const n = +(/NHANDLERS: u32 = (\d+)/.exec(readFileSync("cpu/decode/tables.gen.ts", "utf8"))![1]);
  assert.is(total, n);
});

test.run();
