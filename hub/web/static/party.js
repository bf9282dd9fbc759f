// A party's page: sign in with the access code from intake; the stages of their own dispute across
// agencies and who looked at their data. The session stays in this tab only (sessionStorage).
"use strict";

const state = { session: "" };
const $ = (id) => document.getElementById(id);

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

async function partyApi(path, options) {
  const headers = { Accept: "application/json" };
  if (state.session) headers.Authorization = "Party " + state.session;
  const init = Object.assign({ headers }, options || {});
  if (init.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, init);
  const body = await response.json();
  if (!response.ok) {
    const error = body.error || {};
    throw { status: response.status, reason: error.reason || "error", auditSeq: error.audit_seq };
  }
  return body;
}

async function signIn(code) {
  try {
    const signed = await partyApi("/api/v1/party/sign-in", { method: "POST", body: JSON.stringify({ code }) });
    state.session = signed.session;
  } catch (err) {
    $("sign-in-error").textContent = errorText(err);
    return;
  }
  sessionStorage.setItem("justlink.party.session", state.session);
  await show();
}

async function show() {
  await LABELS_READY;
  let mine, accesses;
  try {
    [mine, accesses] = [await partyApi("/api/v1/party/case"), await partyApi("/api/v1/party/accesses")];
  } catch (err) {
    sessionStorage.removeItem("justlink.party.session");
    state.session = "";
    $("sign-in").hidden = false; $("workspace").hidden = true; $("who").hidden = true;
    $("sign-in-error").textContent = errorText(err);
    return;
  }
  if (mine.zone) ZONE = mine.zone;
  $("sign-in").hidden = true; $("workspace").hidden = false; $("who").hidden = false;
  $("who-case").textContent = `案号 ${mine.case_id}`;
  $("case-line").textContent = `案号 ${mine.case_id} · ${mine.case_open ? "办理中" : "已结案"} · 共 ${mine.steps.length} 个环节`;
  renderSteps(mine.steps);
  renderAccesses(accesses.accesses);
  renderConsents(accesses.consents);
  $("workspace").dataset.loaded = String(Date.now());
}

function renderSteps(steps) {
  const list = clear($("steps"));
  for (const step of steps) {
    if (step.restricted) {
      list.append(el("li", { class: "entry restricted" }, el("div", { class: "when" }, step.occurred_local),
        el("div", {}, el("div", { class: "line" }, el("span", { class: "badge stage" }, "受限记录"),
          "存在一条依法受限的记录，内容不予显示"))));
      continue;
    }
    list.append(el("li", { class: `entry agency-${step.agency}` },
      el("div", { class: "when" }, step.occurred_local.slice(0, 10)),
      el("div", {},
        el("div", { class: "line" },
          el("span", { class: `badge agency-${step.agency}` }, label("agency", step.agency)),
          el("span", { class: "badge stage" }, label("stage", step.stage)),
          el("strong", {}, label("event_type", step.event_type)),
          step.outcome ? el("span", { class: "outcome" }, "结果：" + label("outcome", step.outcome)) : null),
        el("div", { class: "line office" }, step.office_name || "", step.case_number ? ` · ${step.case_number}` : "",
          ` · 我的身份：${label("party_role", step.my_role)}`))));
  }
  if (!steps.length) list.append(el("li", { class: "hint" }, "暂无记录"));
}

function renderAccesses(rows) {
  const table = clear($("accesses"));
  table.append(el("thead", {}, el("tr", {}, ["时间", "单位", "部门", "角色", "目的", "案件", "结果"].map((t) => el("th", {}, t)))));
  const body = el("tbody");
  for (const a of rows) {
    body.append(el("tr", {}, el("td", {}, a.at_local), el("td", {}, label("agency", a.agency)), el("td", {}, a.office),
      el("td", {}, label("role", a.role)), el("td", {}, label("purpose", a.purpose)), el("td", {}, a.case_id || "—"),
      el("td", { class: a.decision }, label("decision", a.decision) + (a.break_glass ? "（紧急查询）" : ""))));
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 7 }, "暂无查询记录")));
  table.append(body);
}

function renderConsents(rows) {
  const table = clear($("consents"));
  table.append(el("thead", {}, el("tr", {}, ["对象角色", "目的", "范围", "有效期自", "至", "状态"].map((t) => el("th", {}, t)))));
  const body = el("tbody");
  for (const c of rows) {
    body.append(el("tr", {}, el("td", {}, label("role", c.grantee_role)), el("td", {}, label("purpose", c.purpose)),
      el("td", {}, c.field_classes.map((f) => label("field_class", f)).join("、")), el("td", {}, localDate(c.valid_from)),
      el("td", {}, c.valid_until ? localDate(c.valid_until) : "—"),
      el("td", {}, c.withdrawn_at ? "已撤回" : c.active ? "有效" : "已失效")));
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 6 }, "暂无")));
  table.append(body);
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("code").value.trim()); });
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem("justlink.party.session"); location.reload(); });
  const saved = sessionStorage.getItem("justlink.party.session");
  if (saved) { state.session = saved; show(); }
});
