// The matrix as a table (terminal), as JSON (the six contract fields per cell) and as a
// self-contained HTML page (click a cell: the XSAVE header bits at each step).
import type { CellResult } from "./run";
import { SCENARIO_TITLES } from "./catalogue";

/** the `--json` contract: exactly these fields, in this order */
export function cellsJson(cells: CellResult[]): object[] {
  return cells.map(({ scenario, source, destination, vmm, outcome, detail }) => ({ scenario, source, destination, vmm, outcome, detail }));
}

export function table(cells: CellResult[]): string {
  const head = ["scenario", "source", "destination", "vmm", "outcome", "why"];
  const rows = cells.map((c) => [c.scenario, c.source, c.destination, c.vmm, c.pass ? c.outcome : `${c.outcome}  ≠ expected ${c.expected}`, c.detail]);
  const w = head.slice(0, 5).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.slice(0, 5).map((x, i) => x.padEnd(w[i])).join("  ") + "  " + r[5];
  const out: string[] = [line(head), w.map((n) => "-".repeat(n)).join("  ") + "  " + "-".repeat(3)];
  let last = "";
  for (let i = 0; i < cells.length; i++) {
    if (cells[i].scenario !== last) {
      last = cells[i].scenario;
      if (i) out.push("");
      out.push(`# ${last}: ${SCENARIO_TITLES[cells[i].scenario]}`);
    }
    out.push(line(rows[i]));
  }
  const bad = cells.filter((c) => !c.pass).length;
  out.push("", `${cells.length} cells: ${cells.length - bad} as kernel-abi.md §10 says${bad ? `, ${bad} NOT` : ""}`);
  return out.join("\n") + "\n";
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

export function html(cells: CellResult[], title = "x86kvm: KVM guest-FPU/XSAVE bug scenarios"): string {
  const data = JSON.stringify(cells).replace(/</g, "\\u003c");
  const rows = cells.map((c, i) =>
    `<tr data-i="${i}" class="${c.pass ? "" : "mismatch"}"><td>${c.scenario}</td><td>${esc(c.source)}</td><td>${esc(c.destination)}</td><td>${c.vmm}</td>` +
    `<td class="o ${c.outcome.split(":")[0]}">${esc(c.outcome)}</td><td>${esc(c.detail)}</td></tr>`).join("\n");
  const titles = Object.entries(SCENARIO_TITLES).map(([k, v]) => `<li><b>${k}</b> ${esc(v)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
tbody tr{cursor:pointer}tbody tr:hover{background:#f4f7ff}tr.sel{background:#e2ebff}
.o{font-weight:600;white-space:nowrap}.ok{color:#17692a}.host-oops{color:#b00020}.guest-crash,.guest-corruption{color:#a34d00}.migration-refused{color:#5b3fa3}
tr.mismatch td:first-child::after{content:" ≠ §10";color:#b00020}
#steps{margin-top:1.5em}code{font:12px ui-monospace,monospace}.bits span{display:inline-block;margin-right:4px;padding:0 3px;border-radius:3px;background:#eee}
.bits span.on{background:#2b6cd3;color:#fff}
</style></head><body>
<h1>${esc(title)}</h1>
<ul>${titles}</ul>
<table><thead><tr><th>scenario</th><th>source</th><th>destination</th><th>vmm</th><th>outcome</th><th>why</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<div id="steps"><p>Select a cell to see the XSAVE header bits at each step.</p></div>
<script>
const CELLS = ${data};
const NAMES = ["x87","SSE","AVX","BNDREGS","BNDCSR","opmask","ZMM_Hi256","Hi16_ZMM","PT","PKRU","PASID","CET_U","CET_S","HDC","UINTR","LBR","HWP","XTILECFG","XTILEDATA"];
const bits = (h) => { if (!h) return ""; const v = BigInt(h); return '<span class="bits">' + NAMES.map((n, i) => (v >> BigInt(i)) & 1n ? '<span class="on">' + i + ' ' + n + '</span>' : "").join("") + "</span> <code>" + h + "</code>"; };
const esc = (s) => String(s ?? "").replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);
function show(i) {
  const c = CELLS[i];
  document.querySelectorAll("tr.sel").forEach((r) => r.classList.remove("sel"));
  document.querySelector('tr[data-i="' + i + '"]').classList.add("sel");
  let h = "<h2>" + c.scenario + " " + esc(c.source) + " → " + esc(c.destination) + " (" + c.vmm + "): " + esc(c.outcome) + "</h2>";
  h += "<p>" + esc(c.detail) + "</p><p>Expected by kernel-abi.md §10: <b>" + esc(c.expected) + "</b> — " + esc(c.why) + "</p>";
  h += "<table><thead><tr><th>#</th><th>step</th><th>result</th><th>buffer XSTATE_BV</th><th>kernel fpstate</th></tr></thead><tbody>";
  c.steps.forEach((s, k) => {
    const f = s.fpstate;
    const kv = (k) => f && f[k] !== undefined ? k + " <code>" + esc(f[k]) + "</code> " : "";
    const fp = f ? (f.xfeatures ? "xfeatures " + bits(f.xfeatures) + "<br>" : "") + kv("user_xfeatures") + kv("xfd") + kv("xcr0") +
      "<br>image XSTATE_BV " + bits(f.xstate_bv) + (f.live ? " (registers live in the CPU)" : "") : "";
    h += "<tr><td>" + (k + 1) + "</td><td>" + esc(s.label) + (s.note ? "<br><small>" + esc(s.note) + "</small>" : "") + "</td><td>" + esc(s.result) + "</td><td>" + (s.buffer ? bits(s.buffer.xstate_bv) : "") + "</td><td>" + fp + "</td></tr>";
  });
  document.getElementById("steps").innerHTML = h + "</tbody></table>";
}
document.querySelectorAll("tbody tr[data-i]").forEach((r) => r.addEventListener("click", () => show(+r.dataset.i)));
const first = CELLS.findIndex((c) => !c.pass);
show(first >= 0 ? first : 0);
</script></body></html>
`;
}
