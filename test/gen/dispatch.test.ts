// The generated dispatch must compile to br_tables: Binaryen turns a switch into one only
// when its case range is at most 1024 (RemoveUnusedBrs tablify), otherwise every
// instruction pays one compare per lower handler id (W1 fell from ~200 to 5 MIPS).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";

// scripts/test.mjs runs every test file from the repository root
const src = readFileSync("cpu/dispatch.gen.ts", "utf8");

test("every dispatch switch spans at most 1024 consecutive ids", () => {
  const switches = src.split(/switch \(id\) \{/).slice(1).map((body) => [...body.split(/default:/)[0].matchAll(/case (\d+):/g)].map((m) => +m[1]));
  assert.ok(switches.length >= 1, "no switch found");
  let next = 0;
  for (const ids of switches) {
    assert.ok(ids.length > 0);
    assert.ok(ids[ids.length - 1] - ids[0] <= 1024, `switch ${ids[0]}..${ids[ids.length - 1]} is wider than 1024`);
    assert.is(ids[0], next, "switches cover the ids in order without gaps");
    ids.forEach((id, i) => assert.is(id, ids[0] + i));
    next = ids[ids.length - 1] + 1;
  }
  const n = +(readFileSync("cpu/decode/tables.gen.ts", "utf8").match(/NHANDLERS: u32 = (\d+)/)![1]);
  assert.is(next, n, "every handler id is dispatched");
});

test.run();
