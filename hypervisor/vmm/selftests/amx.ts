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
import type { HostOopsReport } from "../../fpu/fpu";
import { KVM_CAP } from "../../uapi/consts";

export const SAVE_TILEDATA = 1, COMPARE_TILEDATA = 2, RESTORE_TILEDATA = 4, SAVE_RESTORE = 8;

/** What a run saw beyond its verdict (for tests and reports) */
export interface AmxTestDetail {
  /** CPUID.(0xD,0).ECX of the guest CPUID: xsave_restore_size, where TMM0 sits 8192 bytes before the end */
  xsaveRestoreSize?: number;
  /** KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2): the KVM_GET_XSAVE2 buffer size vcpu_save_state() uses */
  xsave2Size?: number;
  /** the length of every XSAVE image saved, in order */
  xsaveSizes: number[];
  /** TMM0 compares made (each checked XSTATE_BV[18] and the 1024 bytes) */
  compares: number;
  /** pre-2026 form: XFD_ERR (MSR 0x1c5) in the state migrated at each stage, by stage */
  xfdErr: Record<number, bigint | undefined>;
  /** 2026 form: XSTATE_BV read back with KVM_GET_XSAVE2 right after RESTORE_TILEDATA's KVM_SET_XSAVE */
  xstateBvAfterRestore?: bigint;
  /** the host kernel's oopses at the end of the run */
  oopses: readonly HostOopsReport[];
}

export const newAmxDetail = (): AmxTestDetail => ({ xsaveSizes: [], compares: 0, xfdErr: {}, oopses: [] });

function setup(name: string, image: string, opts: SelftestOptions, detail: AmxTestDetail): { t: ImageVm; skip?: string; compare: (s: VcpuState, tiledata: bigint) => void; saved: (s: VcpuState) => VcpuState } {
  const t = new ImageVm(loadImage(image, opts), opts, { xtilePermission: true });
  const has = (fn: number, idx: number, reg: "eax" | "ebx" | "ecx" | "edx", bit: number) =>
    t.cpuid.some((e) => e.fn === fn && e.idx === idx && ((e[reg] >>> bit) & 1) === 1);
  const missing = [
    !has(1, 0, "ecx", 26) && "XSAVE", !has(7, 0, "edx", 24) && "AMX_TILE",
    !has(0xd, 0, "eax", 17) && "XTILECFG", !has(0xd, 0, "eax", 18) && "XTILEDATA",
    !has(0xd, 1, "eax", 4) && "XFD", !has(0xd, 18, "ecx", 2) && "XTILEDATA_XFD",
  ].filter(Boolean);
  const xsaveRestoreSize = (t.cpuid.find((e) => e.fn === 0xd && e.idx === 0)?.ecx ?? 0) >>> 0;
  detail.xsaveRestoreSize = xsaveRestoreSize;
  detail.xsave2Size = t.vm.checkExtension(KVM_CAP.XSAVE2);
  const saved = (s: VcpuState) => { detail.xsaveSizes.push(s.xsave.length); return s; };
  const compare = (s: VcpuState, tiledata: bigint) => {
    const at = xsaveRestoreSize - 8192;
    const bv = new DataView(s.xsave.buffer, s.xsave.byteOffset).getBigUint64(512, true);
    hostAssert((bv & 0x40000n) !== 0n, `XSTATE_BV[18] clear in the saved image (XSTATE_BV 0x${bv.toString(16)})`);
    const want = t.readPhys(Number(tiledata), 1024), got = s.xsave.subarray(at, at + 1024);
    const diff = got.findIndex((b, i) => b !== want[i]);
    hostAssert(diff < 0, `TMM0 in the saved image differs from the tile data at byte ${diff} (image offset ${at + diff})`);
    detail.compares++;
  };
  return { t, skip: missing.length ? `${name}: the supported CPUID of ${t.m.model.name} lacks ${missing.join(", ")}` : undefined, compare, saved };
}

/** amx_test, pre-2026 (v6.8) form */
export function amxTest(opts: SelftestOptions = {}, detail: AmxTestDetail = newAmxDetail()): SelftestResult {
  const { t, skip, compare, saved } = setup("amx", "amx-test.elf", opts, detail);
  if (skip) return skipResult("amx", t, skip);
  let expectStage = 1;
  const r = runSelftest("amx", t, (uc) => {
    const stage = Number(uc.args[1]);
    hostAssert(stage === expectStage, `GUEST_SYNC(${stage}), expected stage ${expectStage}`);
    expectStage++;
    const st = saved(t.migrate());
    if (stage === 4 || stage === 10) compare(st, uc.args[2]);
    const xfdErr = st.msrs.find((e) => e.index === 0x1c5)?.data;
    detail.xfdErr[stage] = xfdErr;
    if (stage === 8) {
      hostAssert(xfdErr === 0x40000n, `XFD_ERR in the state migrated at stage 8 is 0x${xfdErr?.toString(16)}, expected 0x40000 (pending #NM)`);
    }
  }, () => {
    hostAssert(expectStage === 11 && detail.compares === 2, `UCALL_DONE after stage ${expectStage - 1} with ${detail.compares} TMM0 compares`);
    return "UCALL_DONE after stages 1-10, migrated at each; TMM0 survived save/restore at stages 4 and 10";
  });
  detail.oopses = t.host.oopses;
  return r;
}

/** amx_test, 2026 (v6.19) form */
export function amxTest2026(opts: SelftestOptions = {}, detail: AmxTestDetail = newAmxDetail()): SelftestResult {
  const { t, skip, compare, saved } = setup("amx-2026", "amx-test-2026.elf", opts, detail);
  if (skip) return skipResult("amx-2026", t, skip);
  let tileState: VcpuState | undefined;
  const r = runSelftest("amx-2026", t, (uc) => {
    const act = Number(uc.args[1]);
    if (act & SAVE_TILEDATA) tileState = saved(t.save());
    if (act & COMPARE_TILEDATA) compare(act & SAVE_TILEDATA ? tileState! : saved(t.save()), uc.args[2]);
    if (act & RESTORE_TILEDATA) {
      hostAssert(tileState, "RESTORE_TILEDATA before SAVE_TILEDATA");
      t.vcpu.setXsave(tileState.xsave);              // the live vCPU, which has XFD[18] = 1
      const back = t.vcpu.getXsave2(detail.xsave2Size || 4096);
      detail.xstateBvAfterRestore = new DataView(back.buffer, back.byteOffset).getBigUint64(512, true);
    }
    if (act & SAVE_RESTORE) saved(t.migrate());
  }, () => {
    hostAssert(detail.compares === 2, `UCALL_DONE with ${detail.compares} TMM0 compares, expected 2`);
    return "UCALL_DONE: KVM_SET_XSAVE with XSTATE_BV[18] = 1 under XFD[18] = 1 was made safe; TMM0 compared twice";
  });
  detail.oopses = t.host.oopses;
  return r;
}
