import { row, type Family } from "../table-format";

export const pkru: Family = {
  module: "pkru",
  rows: [
    row("0F 01 !EE", "rdpkru", "rdpkru(r)"),
    row("0F 01 !EF", "wrpkru", "wrpkru(r)", "end"),
  ],
};
