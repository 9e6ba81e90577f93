import { row, type Family } from "../table-format";

// All AMX forms are VEX.128.0F38.W0 (isa.md §10.3).
export const amx: Family = {
  module: "amx",
  rows: [
    row("NP V 0F 38 49 /0 mem W0 L0", "ldtilecfg M", "ldtilecfg(r)", "strict"),
    row("66 V 0F 38 49 /0 mem W0 L0", "sttilecfg M", "sttilecfg(r)", "strict"),
    row("NP V 0F 38 49 !C0 W0 L0", "tilerelease", "tilerelease(r)", "strict"),
    row("F2 V 0F 38 49 /r reg rm=0 W0 L0", "tilezero T", "tilezero(r)", "strict"),
    row("F2 V 0F 38 4B /r mem W0 L0", "tileloadd T,M", "tileloadd(r)", "strict"),
    row("66 V 0F 38 4B /r mem W0 L0", "tileloaddt1 T,M", "tileloadd(r)", "strict"),
    row("F3 V 0F 38 4B /r mem W0 L0", "tilestored M,T", "tilestored(r)", "strict"),
    row("F2 V 0F 38 5E /r reg W0 L0", "tdpbssd T,T,T", "tdp(r, 3)", "strict vvvv"),
    row("F3 V 0F 38 5E /r reg W0 L0", "tdpbsud T,T,T", "tdp(r, 1)", "strict vvvv"),
    row("66 V 0F 38 5E /r reg W0 L0", "tdpbusd T,T,T", "tdp(r, 2)", "strict vvvv"),
    row("NP V 0F 38 5E /r reg W0 L0", "tdpbuud T,T,T", "tdp(r, 0)", "strict vvvv"),
    row("F3 V 0F 38 5C /r reg W0 L0", "tdpbf16ps T,T,T", "tdp(r, 4)", "strict vvvv"),
  ],
};
