import { row, type Family } from "../table-format";

export const misc: Family = {
  module: "misc",
  rows: [
    row("F4", "hlt", "hlt(r)", "end"),
    row("0F 0B", "ud2", "ud2(r)"),
    row("0F B9 /r", "ud1 Gv,Ev", "ud2(r)"),
    row("0F FF /r", "ud0 Gv,Ev", "ud2(r)"),
    row("0F A2", "cpuid", "cpuid(r)"),
    row("0F 31", "rdtsc", "rdtsc(r)"),
    row("0F 01 !F9", "rdtscp", "rdtscp(r)"),
    row("0F 0D /r mem", "prefetch Mb", "nop(r)"),
    row("0F 18 /r", "nop Ev", "nop(r)"),
    row("0F 19 /r", "nop Ev", "nop(r)"),
    row("0F 1A /r", "nop Ev", "nop(r)"),
    row("0F 1B /r", "nop Ev", "nop(r)"),
    row("0F 1C /r", "nop Ev", "nop(r)"),
    row("0F 1D /r", "nop Ev", "nop(r)"),
    row("0F 1E /r", "nop Ev", "nop(r)"),
    row("0F 1F /r", "nop Ev", "nop(r)"),
    row("NP 0F AE /5 reg", "lfence", "nop(r)"),
    row("NP 0F AE /6 reg", "mfence", "nop(r)"),
    row("NP 0F AE /7 reg", "sfence", "nop(r)"),
    row("NP 0F AE /7 mem", "clflush Mb", "clflush(r)"),
    row("0F 37", "getsec", "ud2(r)"),
  ],
};
