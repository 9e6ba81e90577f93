// amx_test (tools/testing/selftests/kvm/x86/amx_test.c; kernel-abi.md §9.3), the host half, in
// both forms, over guest-images/bin/amx-test.elf (pre-2026, v6.8) and amx-test-2026.elf (v6.19).
// Needs XFD/XSAVE/AMX in the supported CPUID after vm_xsave_require_permission(XTILE_DATA) (the
// Machine asks for the permission on an AMX model); otherwise the result is "skip".
//
// Pre-2026 form: after every GUEST_SYNC(stage) (1..10) the full migration cycle (save, recreate,
// load, compare registers); at stages 4 and 10 TMM0 in the saved image (offset
// xsave_restore_size − 8192, XSTATE_BV[18] set) must equal the guest's tile data (args[2]).
// Passes under B1–B4.
// 2026 form: GUEST_SYNC(action bits, &tiledata): SAVE_TILEDATA 1 → tile_state = save;
// COMPARE_TILEDATA 2 → TMM0 in tile_state (or a fresh save); RESTORE_TILEDATA 4 →
// KVM_SET_XSAVE(tile_state) on the live vCPU (XSTATE_BV[18] = 1 while the guest has XFD[18] = 1);
// SAVE_RESTORE 8 → migration cycle. B4 passes (the bit is cleared); B1–B3: the KVM_RUN after
// RESTORE_TILEDATA oopses the host (outcome host-oops).
import { ImageVm, runSelftest, hostAssert, loadImage, skipResult, type SelftestOptions, type SelftestResult } from "./harness";
import type { VcpuState } from "../ucall";

export const SAVE_TILEDATA = 1, COMPARE_TILEDATA = 2, RESTORE_TILEDATA = 4, SAVE_RESTORE = 8;

function setup(name: string, image: string, opts: SelftestOptions): { t: ImageVm; skip?: string; compare: (s: VcpuState, tiledata: bigint) => void } {
  const t = new ImageVm(loadImage(image, opts), opts, { xtilePermission: true });
  const has = (fn: number, idx: number, reg: "eax" | "ebx" | "ecx" | "edx", bit: number) =>
    t.cpuid.some((e) => e.fn === fn && e.idx === idx && ((e[reg] >>> bit) & 1) === 1);
  const missing = [
    !has(1, 0, "ecx", 26) && "XSAVE", !has(7, 0, "edx", 24) && "AMX_TILE",
    !has(0xd, 0, "eax", 17) && "XTILECFG", !has(0xd, 0, "eax", 18) && "XTILEDATA",
    !has(0xd, 1, "eax", 4) && "XFD", !has(0xd, 18, "ecx", 2) && "XTILEDATA_XFD",
  ].filter(Boolean);
  const xsaveRestoreSize = (t.cpuid.find((e) => e.fn === 0xd && e.idx === 0)?.ecx ?? 0) >>> 0;
  const compare = (s: VcpuState, tiledata: bigint) => {
    const at = xsaveRestoreSize - 8192;
    const bv = new DataView(s.xsave.buffer, s.xsave.byteOffset).getBigUint64(512, true);
    hostAssert((bv & 0x40000n) !== 0n, `XSTATE_BV[18] clear in the saved image (XSTATE_BV 0x${bv.toString(16)})`);
    const want = t.readPhys(Number(tiledata), 1024), got = s.xsave.subarray(at, at + 1024);
    const diff = got.findIndex((b, i) => b !== want[i]);
    hostAssert(diff < 0, `TMM0 in the saved image differs from the tile data at byte ${diff} (image offset ${at + diff})`);
  };
  return { t, skip: missing.length ? `${name}: the supported CPUID of ${t.m.model.name} lacks ${missing.join(", ")}` : undefined, compare };
}

/** amx_test, pre-2026 (v6.8) form */
export function amxTest(opts: SelftestOptions = {}): SelftestResult {
  const { t, skip, compare } = setup("amx", "amx-test.elf", opts);
  if (skip) return skipResult("amx", t, skip);
  let expectStage = 1, compares = 0;
  return runSelftest("amx", t, (uc) => {
    const stage = Number(uc.args[1]);
    hostAssert(stage === expectStage, `GUEST_SYNC(${stage}), expected stage ${expectStage}`);
    expectStage++;
    const st = t.migrate();
    if (stage === 4 || stage === 10) { compare(st, uc.args[2]); compares++; }
    if (stage === 8) {
      const xfdErr = st.msrs.find((e) => e.index === 0x1c5)?.data;
      hostAssert(xfdErr === 0x40000n, `XFD_ERR in the state migrated at stage 8 is 0x${xfdErr?.toString(16)}, expected 0x40000 (pending #NM)`);
    }
  }, () => {
    hostAssert(expectStage === 11 && compares === 2, `UCALL_DONE after stage ${expectStage - 1} with ${compares} TMM0 compares`);
    return "UCALL_DONE after stages 1-10, migrated at each; TMM0 survived save/restore at stages 4 and 10";
  });
}

/** amx_test, 2026 (v6.19) form */
export function amxTest2026(opts: SelftestOptions = {}): SelftestResult {
  const { t, skip, compare } = setup("amx-2026", "amx-test-2026.elf", opts);
  if (skip) return skipResult("amx-2026", t, skip);
  let tileState: VcpuState | undefined;
  let compares = 0;
  return runSelftest("amx-2026", t, (uc) => {
    const act = Number(uc.args[1]);
    if (act & SAVE_TILEDATA) tileState = t.save();
    if (act & COMPARE_TILEDATA) { compare(act & SAVE_TILEDATA ? tileState! : t.save(), uc.args[2]); compares++; }
    if (act & RESTORE_TILEDATA) {
      hostAssert(tileState, "RESTORE_TILEDATA before SAVE_TILEDATA");
      t.vcpu.setXsave(tileState.xsave);              // the live vCPU, which has XFD[18] = 1
    }
    if (act & SAVE_RESTORE) t.migrate();
  }, () => {
    hostAssert(compares === 2, `UCALL_DONE with ${compares} TMM0 compares, expected 2`);
    return "UCALL_DONE: KVM_SET_XSAVE with XSTATE_BV[18] = 1 under XFD[18] = 1 was made safe; TMM0 compared twice";
  });
}
