// The county bureau's dashboard: aggregates only (no person), small counts shown as "<5"; charts and CSV.
"use strict";

const BUREAU_CONTEXT = { role: "bureau_officer", purpose: "statistics" };
const SECTIONS = [
  ["disputes", "纠纷分布 Disputes"], ["mediation", "人民调解 Mediation"], ["first_handling", "首次处置 First handling"],
  ["alerts", "预警处置 Alerts"], ["warnings", "重复调解预警 Repeat-mediation warnings"],
  ["handovers", "刑满释放衔接 Hand-overs"], ["open_handovers", "逾期未衔接 Open hand-overs"],
];
const COLUMNS = {
  disputes: [["dispute_type", "纠纷类型", "dispute_type"], ["township", "乡镇", "township"], ["threads", "纠纷数"]],
  mediation: [["level", "调解层级", "mediation_level"], ["concluded", "结案"], ["agreement", "达成协议"],
    ["failed", "调解不成"], ["escalated", "上报"], ["success_rate", "成功率", "rate"]],
  first_handling: [["dispute_type", "纠纷类型", "dispute_type"], ["threads", "警情数"], ["median_hours", "中位（小时）"],
    ["p90_hours", "90%（小时）"], ["within_target", "按时处置"], ["within_target_rate", "按时率", "rate"]],
  alerts: [["rule", "预警规则", "alert_rule"], ["level", "等级", "level"], ["raised", "发出"],
    ["handled_in_time", "按时处置"], ["handled_late", "逾期处置"], ["open", "待处理"], ["open_overdue", "已逾期未处理"],
    ["superseded", "已合并"], ["in_time_rate", "按时率", "rate"]],
  warnings: [["agencies", "先受理→后受理", "repeat_pair"], ["raised", "发出"], ["open", "尚在办"], ["concluded", "均已结"]],
  handovers: [["county_code", "接收县"], ["notices", "释放通知"], ["due", "已到期"], ["received_in_time", "按时衔接"],
    ["received_late", "逾期衔接"], ["open_overdue", "逾期未衔接"], ["pending", "未到期"], ["handover_rate", "衔接率", "rate"]],
  open_handovers: [["notice_number", "释放通知书编号"], ["county_code", "接收县"], ["office_name", "接收司法所"],
    ["released_on", "释放日期"], ["due_on", "应衔接日期"], ["days_overdue", "逾期天数"], ["sentenced_in", "原判县"],
    ["cross_county", "跨县", "yes_no"]],
};
const TILES = [["threads", "纠纷（条）"], ["mediation_success_rate", "调解成功率"],
  ["first_handling_within_target_rate", "72小时内处置"], ["alerts_raised", "预警"], ["alerts_in_time_rate", "预警按时处置率"],
  ["repeat_warnings", "重复调解预警"], ["handover_rate", "刑满释放衔接率"], ["open_handovers", "逾期未衔接"]];
const state = { token: "", data: null, section: "disputes" };
const $ = (id) => document.getElementById(id);
const ctx = () => Object.assign({ token: state.token }, BUREAU_CONTEXT);

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

function shown(value, kind, suppressed) {
  if (value === null || value === undefined) return suppressed ? `<${state.data.min_cell}` : "—";
  if (kind === "rate") return `${(value * 100).toFixed(1)}%`;
  if (kind === "township") return value === "*" ? "（合计）" : value || "县级/未注明";
  if (kind === "dispute_type" && value === "*") return "（合计）";
  if (kind === "yes_no") return value ? "是" : "否";
  if (kind) return label(kind, value);
  return String(value);
}

function query() {
  const form = $("filter-form");
  const params = new URLSearchParams();
  if (form.since.value) params.set("since", form.since.value + "T00:00:00");
  if (form.until.value) params.set("until", dayAfter(form.until.value) + "T00:00:00");
  if (form.county.value) params.set("county", form.county.value);
  return params;
}

async function signIn(token) {
  await LABELS_READY;
  state.token = token;
  try {
    const me = await api("/api/v1/me", { token });
    if (!me.roles.some((r) => r.role === "bureau_officer")) throw { status: 403, reason: "role_not_held" };
    if (me.zone) ZONE = me.zone;
    $("who-name").textContent = `${me.display_name} · ${me.organisation}`;
  } catch (err) {
    state.token = "";
    $("sign-in-error").textContent = errorText(err);
    return;
  }
  sessionStorage.setItem("justlink.bureau.token", token);
  $("sign-in").hidden = true; $("workspace").hidden = false; $("who").hidden = false;
  await run();
}

async function run() {
  $("dashboard-error").textContent = "";
  try {
    state.data = await api(`/api/v1/dashboard?${query()}`, ctx());
  } catch (err) {
    $("dashboard-error").textContent = errorText(err);
    return;
  }
  const select = document.querySelector("#filter-form select[name=county]");
  if (select.options.length === 1) for (const c of state.data.counties) select.append(el("option", { value: c }, c));
  $("target-hours").textContent = state.data.first_handling_target_hours;
  const s = state.data.summary;
  const tiles = clear($("tiles"));
  for (const [key, text] of TILES) {
    const rate = key.endsWith("_rate");
    tiles.append(el("div", { class: "tile", id: `tile-${key}` },
      el("strong", {}, shown(s[key], rate ? "rate" : null, !rate && s[key] === null)), text));
  }
  renderCharts();
  renderTabs();
  renderSection();
  $("workspace").dataset.loaded = String(Date.now());  // which dashboard is on screen
}

/** Horizontal bars: [label, value shown, share of the longest bar (0..1), suppressed]. */
function bars(node, items) {
  clear(node);
  if (!items.length) { node.append(el("p", { class: "hint" }, "暂无数据")); return; }
  for (const [text, value, share, suppressed] of items) {
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${Math.round(share * 100)}%`;  // CSSOM, not a style attribute: the page's CSP allows it
    node.append(el("div", { class: "bar-row" + (suppressed ? " suppressed" : "") },
      el("span", { class: "bar-label" }, text), el("span", { class: "bar-track" }, fill),
      el("span", { class: "bar-value" }, value)));
  }
}

function renderCharts() {
  const d = state.data.sections;
  const totals = (name) => d.disputes.filter((r) => r[name] !== "*" && r[name === "dispute_type" ? "township" : "dispute_type"] === "*");
  const byType = totals("dispute_type").sort((a, b) => (b.threads || 0) - (a.threads || 0));
  const max = Math.max(1, ...byType.map((r) => r.threads || 0));
  bars($("chart-types"), byType.map((r) => [label("dispute_type", r.dispute_type), shown(r.threads, null, r.threads === null),
    (r.threads || 0) / max, r.threads === null]));
  const byTown = totals("township").sort((a, b) => (b.threads || 0) - (a.threads || 0));
  const maxTown = Math.max(1, ...byTown.map((r) => r.threads || 0));
  bars($("chart-townships"), byTown.map((r) => [shown(r.township, "township"), shown(r.threads, null, r.threads === null),
    (r.threads || 0) / maxTown, r.threads === null]));
  bars($("chart-mediation"), d.mediation.map((r) => [label("mediation_level", r.level),
    `${shown(r.success_rate, "rate")}（${shown(r.agreement, null, r.agreement === null)}/${shown(r.concluded, null, r.concluded === null)}）`,
    r.success_rate || 0, r.success_rate === null]));
  bars($("chart-handling"), d.first_handling.map((r) => [label("dispute_type", r.dispute_type),
    `${shown(r.within_target_rate, "rate")}（中位 ${shown(r.median_hours)} 小时）`, r.within_target_rate || 0,
    r.within_target_rate === null]));
  bars($("chart-handovers"), d.handovers.map((r) => [r.county_code === "*" ? "（合计）" : r.county_code,
    `${shown(r.handover_rate, "rate")}（逾期未衔接 ${shown(r.open_overdue, null, r.open_overdue === null)}）`,
    r.handover_rate || 0, r.handover_rate === null]));
}

function renderTabs() {
  const tabs = clear($("tabs"));
  for (const [key, text] of SECTIONS) {
    const rows = state.data.sections[key];
    tabs.append(el("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(key === state.section),
      onclick: () => { state.section = key; renderTabs(); renderSection(); } }, `${text} (${rows.length})`));
  }
}

/** Disputes as a table of types (rows) by townships (columns), totals last. */
function renderPivot(table, rows) {
  const towns = [...new Set(rows.filter((r) => r.township !== "*").map((r) => r.township))]
    .sort((a, b) => (a === "") - (b === "") || a.localeCompare(b, "zh-CN"));
  const types = [...new Set(rows.filter((r) => r.dispute_type !== "*").map((r) => r.dispute_type))];
  const cell = new Map(rows.map((r) => [`${r.dispute_type}|${r.township}`, r]));
  table.append(el("thead", {}, el("tr", {}, el("th", {}, "纠纷类型／乡镇"),
    towns.map((t) => el("th", {}, shown(t, "township"))), el("th", {}, "合计"))));
  const body = el("tbody");
  for (const type of [...types, "*"]) {
    body.append(el("tr", {}, el("th", {}, type === "*" ? "合计" : label("dispute_type", type)),
      [...towns, "*"].map((town) => {
        const row = cell.get(`${type}|${town}`);
        if (!row) return el("td", {}, "0");
        const hidden = (row.suppressed || []).includes("threads");
        return el("td", { class: hidden ? "suppressed" : null }, shown(row.threads, null, hidden));
      })));
  }
  table.append(body);
}

function renderSection() {
  const rows = state.data.sections[state.section];
  const columns = COLUMNS[state.section];
  $("section-title").textContent = SECTIONS.find(([k]) => k === state.section)[1];
  const table = clear($("section-table"));
  if (state.section === "disputes" && rows.length) { renderPivot(table, rows); return; }
  table.append(el("thead", {}, el("tr", {}, columns.map(([, text]) => el("th", {}, text)))));
  const body = el("tbody");
  for (const row of rows) {
    body.append(el("tr", {}, columns.map(([key, , kind]) =>
      el("td", { class: (row.suppressed || []).includes(key) ? "suppressed" : null },
        shown(row[key], kind, (row.suppressed || []).includes(key))))));
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: columns.length }, "无记录")));
  table.append(body);
}

async function exportCsv() {
  const params = query();
  params.set("section", state.section);
  const response = await fetch(`/api/v1/dashboard/export.csv?${params}`, { headers: contextHeaders(ctx()) });
  if (!response.ok) { $("dashboard-error").textContent = `${response.status} 导出失败`; return; }
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `justlink-dashboard-${state.section}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("filter-form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("export-csv").addEventListener("click", exportCsv);
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem("justlink.bureau.token"); location.reload(); });
  const saved = sessionStorage.getItem("justlink.bureau.token");
  if (saved) signIn(saved);
});
