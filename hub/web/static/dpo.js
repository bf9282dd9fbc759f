// The DPO's page: who looked at whom, when, why; denials, break-glass, anomalies; CSV export.
"use strict";

const DPO_CONTEXT = { role: "dpo", purpose: "audit" };
const SECTIONS = [
  ["anomalies", "异常 Anomalies"], ["by_user", "按用户 By user"], ["by_subject", "按当事人 By subject"],
  ["by_purpose", "按目的 By purpose"], ["denials", "拒绝 Denials"], ["break_glass", "紧急查询 Break-glass"],
  ["accesses", "全部访问 Accesses"],
];
const COLUMNS = {
  anomalies: [["kind", "类型"], ["user", "用户"], ["subject", "当事人"], ["from_at", "开始"], ["to_at", "结束"],
    ["count", "次数"], ["detail", "说明"]],
  by_user: [["user", "用户"], ["roles", "角色"], ["organisation", "机构"], ["accesses", "访问"], ["allowed", "允许"],
    ["denied", "拒绝"], ["subjects", "当事人数"], ["break_glass", "紧急查询"], ["last_at", "最近"]],
  by_subject: [["subject", "当事人"], ["accesses", "访问"], ["allowed", "允许"], ["denied", "拒绝"], ["users", "查看者"],
    ["purposes", "目的"], ["last_at", "最近"]],
  by_purpose: [["purpose", "目的"], ["accesses", "访问"], ["allowed", "允许"], ["denied", "拒绝"], ["users", "用户数"],
    ["subjects", "当事人数"]],
  denials: [["seq", "#"], ["at", "时间"], ["user", "用户"], ["role", "角色"], ["purpose", "目的"], ["case_id", "案件"],
    ["subject", "当事人"], ["status", "状态码"], ["reason", "原因"], ["withheld", "未记录的值（长度·密钥散列）"]],
  break_glass: [["seq", "#"], ["at", "时间"], ["user", "用户"], ["role", "角色"], ["purpose", "目的"], ["case_id", "案件"],
    ["subject", "当事人"], ["decision", "结果"], ["reason", "原因"], ["justification", "书面理由"]],
  accesses: [["seq", "#"], ["at", "时间"], ["user", "用户"], ["role", "角色"], ["purpose", "目的"], ["case_id", "案件"],
    ["subject", "当事人"], ["decision", "结果"], ["reason", "原因"], ["withheld", "未记录的值（长度·密钥散列）"]],
};
const state = { token: "", report: null, section: "anomalies" };
const $ = (id) => document.getElementById(id);
const ctx = () => Object.assign({ token: state.token }, DPO_CONTEXT);

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

function query() {
  const form = $("filter-form");
  const params = new URLSearchParams();
  // dates as the agency means them: the server reads a time without offset in the hub's zone
  if (form.since.value) params.set("since", form.since.value + "T00:00:00");
  if (form.until.value) params.set("until", dayAfter(form.until.value) + "T00:00:00");
  for (const name of ["user", "subject", "purpose"]) if (form[name].value.trim()) params.set(name, form[name].value.trim());
  return params;
}

async function signIn(token) {
  await LABELS_READY;
  state.token = token;
  try {
    const me = await api("/api/v1/me", { token });
    if (!me.roles.some((r) => r.role === "dpo")) throw { status: 403, reason: "role_not_held" };
    if (me.zone) ZONE = me.zone;
    $("who-name").textContent = `${me.display_name} · ${organisationText(me.organisation)}`;
  } catch (err) {
    state.token = "";
    $("sign-in-error").textContent = errorText(err);
    return;
  }
  sessionStorage.setItem("justlink.dpo.token", token);
  $("sign-in").hidden = true; $("workspace").hidden = false; $("who").hidden = false;
  const purposes = document.querySelector("#filter-form select[name=purpose]");
  clear(purposes).append(el("option", { value: "" }, "全部"));
  for (const p of Object.keys(ZH.purpose)) purposes.append(el("option", { value: p }, label("purpose", p)));
  await runReport();
}

async function runReport() {
  $("report-error").textContent = "";
  try {
    state.report = await api(`/api/v1/audit/report?${query()}`, ctx());
  } catch (err) {
    $("report-error").textContent = errorText(err);
    return;
  }
  const s = state.report.summary;
  const tiles = clear($("tiles"));
  for (const [key, text] of [["accesses", "访问"], ["allowed", "允许"], ["denied", "拒绝"], ["unauthenticated", "未认证"],
    ["break_glass", "紧急查询"], ["users", "用户"], ["subjects", "当事人"],
    ["withheld_from_subjects", "对当事人暂不显示的查询"]]) {
    tiles.append(el("div", { class: "tile", id: `tile-${key}` }, el("strong", {}, s[key]), text));
  }
  tiles.append(el("div", { class: "tile", id: "tile-anomalies" }, el("strong", {}, state.report.anomalies.length), "异常"));
  renderTabs();
  renderSection();
  tiles.dataset.subject = state.report.filters.subject || "";  // which report is on screen
}

function renderTabs() {
  const tabs = clear($("tabs"));
  for (const [key, text] of SECTIONS) {
    const count = state.report[key].length;
    tabs.append(el("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(key === state.section),
      onclick: () => { state.section = key; renderTabs(); renderSection(); } }, `${text} (${count})`));
  }
}

function cell(key, value, row) {
  if (key === "roles" && Array.isArray(value)) return value.map((r) => label("role", r)).join("、");
  if (key === "purposes" && Array.isArray(value)) return value.map((p) => label("purpose", p)).join("、");
  if (key === "role") return label("role", value);
  if (Array.isArray(value)) return value.join("、");
  if (key === "at" || key.endsWith("_at")) return localDate(value, true);
  if (key === "kind") return el("span", { class: `kind-${value}`, title: value }, label("anomaly", value));
  if (key === "decision") return el("span", { class: value }, label("decision", value));
  if (key === "purpose") return label("purpose", value);
  if (key === "reason") return el("span", { title: value }, label("reason", value));
  if (key === "subject" && value) {
    return el("button", { type: "button", class: "link", onclick: () => { $("filter-form").subject.value = value; runReport(); } }, value);
  }
  if (key === "user" && value && row) {
    return el("button", { type: "button", class: "link", onclick: () => { $("filter-form").user.value = value; runReport(); } }, value);
  }
  return value === null || value === undefined || value === "" ? "—" : String(value);
}

function renderSection() {
  const columns = COLUMNS[state.section];
  $("section-title").textContent = SECTIONS.find(([k]) => k === state.section)[1];
  const table = clear($("section-table"));
  table.append(el("thead", {}, el("tr", {}, columns.map(([, title]) => el("th", {}, title)))));
  const body = el("tbody");
  for (const row of state.report[state.section]) body.append(el("tr", {}, columns.map(([key]) => el("td", {}, cell(key, row[key], row)))));
  if (!state.report[state.section].length) body.append(el("tr", {}, el("td", { colspan: columns.length, class: "meta" }, "无")));
  table.append(body);
}

async function exportCsv() {
  const params = query();
  params.set("section", state.section);
  const response = await fetch(`/api/v1/audit/export.csv?${params}`, { headers: contextHeaders(ctx()) });
  if (!response.ok) { $("report-error").textContent = `${response.status} 导出失败`; return; }
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: `justlink-audit-${state.section}.csv`, id: "csv-link" });
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(url); link.remove(); }, 1000);
}

// -- consent records: the DPO records or withdraws a consent given to them (the form as the reference) --
const consentCtx = () => ({ token: state.token, role: "dpo", purpose: "consent_records",
  caseId: $("dpo-consent-lookup").reference.value.trim() });

async function openConsents() {
  const subject = $("dpo-consent-lookup").subject.value.trim();
  const list = clear($("dpo-consent-list"));
  $("dpo-consent-error").textContent = "";
  let data;
  try {
    data = await api(`/api/v1/persons/${encodeURIComponent(subject)}/consents`, consentCtx());
  } catch (err) {
    $("dpo-consent-error").textContent = errorText(err);
    $("dpo-consent-form").hidden = true;
    return;
  }
  for (const consent of data.consents) {
    const status = consent.active ? "有效" : (consent.withdrawn_at ? "已撤回" : "已失效");
    const item = el("li", { class: "consent", dataset: { consent: consent.consent_id } },
      el("strong", {}, `${consent.consent_id} · ${label("purpose", consent.purpose)} · ${label("role", consent.grantee_role)} · ${status}`),
      el("span", { class: "meta" }, " · 范围：", consent.field_classes.map((c) => label("field_class", c)).join("、"),
        ` · 有效期至：${consent.valid_until_local ? consent.valid_until_local.slice(0, 10) : "长期"}`));
    if (consent.active) {
      item.append(el("button", { type: "button", class: "link withdraw", onclick: () => withdrawConsent(consent.consent_id) }, "撤回"));
    }
    list.append(item);
  }
  if (!data.consents.length) list.append(el("li", { class: "meta" }, "无同意记录"));
  const select = clear($("dpo-consent-form").grant);
  const offered = data.offered_by_purpose || {};
  for (const key of Object.keys(offered)) {
    const [role, purpose] = key.split("/");
    select.append(el("option", { value: key }, `${label("purpose", purpose)} · ${label("role", role)}`));
  }
  select.onchange = () => fillConsentScope(offered[select.value]);
  fillConsentScope(offered[select.value]);
  $("dpo-consent-form").hidden = false;
}

function fillConsentScope(offer) {
  const scope = clear($("dpo-consent-scope"));
  for (const c of (offer && offer.field_classes) || []) {
    scope.append(el("label", {}, el("input", { type: "checkbox", name: "scope", value: c, checked: true }), " ",
      label("field_class", c)));
  }
}

async function recordConsent() {
  const form = $("dpo-consent-form");
  const [role, purpose] = form.grant.value.split("/");
  const body = { purpose, grantee_role: role,
    field_classes: [...form.querySelectorAll("input[name=scope]:checked")].map((b) => b.value) };
  if (form.until.value) body.valid_until = form.until.value + "T23:59:59";
  const subject = $("dpo-consent-lookup").subject.value.trim();
  try {
    await api(`/api/v1/persons/${encodeURIComponent(subject)}/consents`, consentCtx(),
      { method: "POST", body: JSON.stringify(body) });
  } catch (err) {
    $("dpo-consent-error").textContent = errorText(err);
    return;
  }
  await openConsents();
}

async function withdrawConsent(consentId) {
  try {
    await api(`/api/v1/consents/${encodeURIComponent(consentId)}/withdraw`, consentCtx(), { method: "POST" });
  } catch (err) {
    $("dpo-consent-error").textContent = errorText(err);
    return;
  }
  await openConsents();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("filter-form").addEventListener("submit", (e) => { e.preventDefault(); runReport(); });
  $("export-csv").addEventListener("click", exportCsv);
  $("dpo-consent-lookup").addEventListener("submit", (e) => { e.preventDefault(); openConsents(); });
  $("dpo-consent-form").addEventListener("submit", (e) => { e.preventDefault(); recordConsent(); });
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem("justlink.dpo.token"); location.reload(); });
  const saved = sessionStorage.getItem("justlink.dpo.token");
  if (saved) signIn(saved);
});
