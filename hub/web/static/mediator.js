// The mediator's page: sign in, pick the case, find a party, see their cross-agency timeline,
// the dispute threads it forms and their alerts. Every call goes through the audited API.
"use strict";

const PAGE_SIZE = 20;
const state = { token: "", me: null, role: "", purpose: "", caseId: "", person: null, offset: 0, dispute: null };
const $ = (id) => document.getElementById(id);
const ctx = () => ({ token: state.token, role: state.role, purpose: state.purpose, caseId: state.caseId });

function show(id, visible) { $(id).hidden = !visible; }
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

// -- sign in -------------------------------------------------------------------------------------------
async function signIn(token) {
  await LABELS_READY;
  state.token = token;
  try {
    state.me = await api("/api/v1/me", { token });
  } catch (err) {
    state.token = "";
    sessionStorage.removeItem("justlink.token");
    $("sign-in-error").textContent = errorText(err);
    return;
  }
  sessionStorage.setItem("justlink.token", token);
  if (state.me.zone) ZONE = state.me.zone;
  $("sign-in-error").textContent = "";
  $("who-name").textContent = `${state.me.display_name} · ${organisationText(state.me.organisation)}`;
  const roles = clear($("role"));
  for (const r of state.me.roles) roles.append(el("option", { value: r.role, title: r.description }, label("role", r.role)));
  fillPurposes();
  fillRecentCases();
  show("sign-in", false); show("workspace", true); show("who", true);
  showHandovers();
}

function fillPurposes() {
  const role = state.me.roles.find((r) => r.role === $("role").value) || state.me.roles[0];
  const select = clear($("purpose"));
  for (const p of (role ? role.purposes : [])) select.append(el("option", { value: p }, label("purpose", p)));
}

function fillRecentCases() {
  const list = clear($("recent-cases"));
  for (const c of JSON.parse(localStorage.getItem("justlink.cases") || "[]")) list.append(el("option", { value: c }));
}

function rememberCase(caseId) {
  const recent = JSON.parse(localStorage.getItem("justlink.cases") || "[]").filter((c) => c !== caseId);
  localStorage.setItem("justlink.cases", JSON.stringify([caseId, ...recent].slice(0, 8)));
  fillRecentCases();
}

function signOut() {
  sessionStorage.removeItem("justlink.token");
  Object.assign(state, { token: "", me: null, person: null, caseId: "" });
  show("workspace", false); show("who", false); show("sign-in", true); show("person", false); show("empty", true);
  $("token").value = "";
}

// -- case ----------------------------------------------------------------------------------------------
async function openCase() {
  state.role = $("role").value;
  state.purpose = $("purpose").value;
  state.caseId = $("case-id").value.trim();
  $("context-error").textContent = "";
  const box = clear($("case-box"));
  try {
    const data = await api("/api/v1/case", ctx());
    rememberCase(state.caseId);
    box.append(el("p", { class: "meta" }, `${data.case_id} · ${label("case_kind", data.kind)} · ${data.open ? "在办" : "已结案"}` +
      ` · ${data.office_name || data.office || ""} · 受理 ${localDate(data.opened_at)}`));
    box.append(el("h4", {}, "本案当事人 Parties"));
    const cards = personCards(data.parties, "case-parties", (data.needs_consent || []).length ? null : undefined);
    for (const personId of data.needs_consent || []) {
      // a party seen only with their consent (legal aid): open them to record the consent taken at intake
      cards.append(el("li", {},
        el("button", { type: "button", class: "card needs-consent", dataset: { person: personId }, onclick: () => openPerson(personId) },
          el("strong", {}, "需当事人同意"), el("span", { class: "meta" }, "记录当事人的同意后可查看"),
          el("span", { class: "pid" }, personId))));
    }
    box.append(cards);
    offerSimilar(data.kind);
    showRepeatWarnings(data.kind);
  } catch (err) {
    offerSimilar("");
    showRepeatWarnings("");
    $("context-error").textContent = errorText(err);
  }
}

function personCards(cards, id, emptyText) {
  const list = el("ul", { class: "cards", id });
  for (const card of cards) {
    const party = card.party || {};
    list.append(el("li", {},
      el("button", { type: "button", class: "card", dataset: { person: card.person_id }, onclick: () => openPerson(card.person_id) },
        el("strong", {}, displayName(party)),
        el("span", { class: "meta" }, `${label("gender", party.gender)} · ${card.events} 条记录 · `,
          card.agencies.map((a) => label("agency", a)).join("、")),
        el("span", { class: "pid" }, card.person_id))));
  }
  if (!cards.length && emptyText !== null) list.append(el("li", { class: "meta" }, emptyText || "无可见当事人"));
  return list;
}

function displayName(party) {
  if (!party || !party.name) return "（姓名不详）";
  return isMasked(party.name) ? "姓名已遮蔽" : party.name;
}

// -- search --------------------------------------------------------------------------------------------
function searchKindChanged() {
  const kind = $("search-kind").value;
  $("search-value").placeholder = { id_number: "身份证号", phone: "电话号码", name: "姓名" }[kind];
  $("search-dob").hidden = kind !== "name";
  $("search-dob").required = kind === "name";
}

async function search() {
  const kind = $("search-kind").value;
  const body = {};
  if (kind === "name") { body.name = $("search-value").value.trim(); body.date_of_birth = $("search-dob").value; }
  else body[kind] = $("search-value").value.trim();
  $("search-error").textContent = "";
  const list = clear($("search-results"));
  try {
    const data = await api("/api/v1/persons/search", ctx(), { method: "POST", body: JSON.stringify(body) });
    if (data.problem) $("search-error").textContent = { id_number_invalid: "身份证号校验位不正确", phone_invalid: "电话号码格式不正确" }[data.problem] || data.problem;
    list.replaceWith(personCards(data.results, "search-results", "未找到 Not found"));
  } catch (err) {
    $("search-error").textContent = errorText(err);
  }
}

// -- person --------------------------------------------------------------------------------------------
async function openPerson(personId) {
  state.person = personId; state.offset = 0; state.dispute = null;
  show("empty", false); show("person", true);
  await Promise.all([loadHistory(), loadThreads(), loadAlerts(), loadConsents()]);
}

function historyQuery() {
  const form = $("filter-form");
  const params = new URLSearchParams({ limit: PAGE_SIZE, offset: state.offset });
  for (const box of form.querySelectorAll("input[name=agency]:checked")) params.append("agency", box.value);
  // dates as the agency means them: the server reads a time without offset in the hub's zone
  if (form.since.value) params.set("since", form.since.value + "T00:00:00");
  if (form.until.value) params.set("until", dayAfter(form.until.value) + "T00:00:00");
  if (state.dispute) params.set("dispute_id", state.dispute);
  return params;
}

async function loadHistory() {
  const list = clear($("timeline"));
  try {
    const data = await api(`/api/v1/persons/${encodeURIComponent(state.person)}/history?${historyQuery()}`, ctx());
    renderHead(data);
    for (const entry of data.entries) list.append(renderEntry(entry));
    if (!data.entries.length) list.append(el("li", { class: "meta" }, "没有可见的记录 No visible records"));
    const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
    $("page-info").textContent = `第 ${Math.floor(state.offset / PAGE_SIZE) + 1} / ${pages} 页 · 共 ${data.total} 条`;
    $("prev-page").disabled = state.offset === 0;
    $("next-page").disabled = state.offset + PAGE_SIZE >= data.total;
    const notes = [];
    if (state.dispute) notes.push(`仅显示纠纷线索 ${state.dispute}`);
    if (data.hidden_restricted) notes.push(`${data.hidden_restricted} 条受限记录（封存/保密）未显示`);
    if (data.access.refused_event_types.length) {
      notes.push("需当事人同意方可查看：" + data.access.refused_event_types.map((t) => label("event_type", t)).join("、"));
    }
    $("timeline-note").textContent = notes.join("；");
  } catch (err) {
    list.append(el("li", { class: "error" }, errorText(err)));
  }
}

function renderHead(data) {
  const first = data.entries.find(() => true);
  const party = first ? first.fields.parties && first.fields.parties[first.party_index] : null;
  $("person-title").textContent = `${displayName(party)} · ${data.person_id}`;
  const merged = data.ids.length > 1 ? ` · 合并自 ${data.ids.slice(1).join("、")}` : "";
  $("person-meta").textContent = `共 ${data.total} 条可见记录${merged}`;
  $("person-basis").textContent = `依据：${legalBasisText(data.access)} · 可见字段：` +
    data.access.field_classes.map((c) => label("field_class", c)).join("、");
}

function isMasked(value) { return typeof value === "string" && value.startsWith("***"); }

function renderValue(key, value, maskedBy) {
  const mask = maskedBy[key];
  if (mask) {
    return el("span", { class: "masked", title: `Masked (${mask.class || "erased"}): ${mask.reason}` },
      `［已遮蔽：${label("mask", mask.reason)}］`);
  }
  if (typeof value === "boolean") return value ? "是" : "否";
  if (Array.isArray(value)) return value.map((v) => renderValue(key, v, {})).join("、");
  if (value !== null && typeof value === "object") {
    return Object.entries(value).filter(([, v]) => v !== null && v !== "")
      .map(([k, v]) => `${label("field", k)}：${renderValue(k, v, {})}`).join("；");
  }
  if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) return localDate(value);
  return fieldLabel(key, value);
}

function renderEntry(entry) {
  const maskedBy = {};
  for (const m of entry.masked) maskedBy[m.field] = m;
  const fields = el("dl", { class: "fields" });
  for (const [key, value] of Object.entries(entry.fields)) {
    if (key === "parties" || value === null || value === "" || (Array.isArray(value) && !value.length)) continue;
    fields.append(el("dt", { title: key }, label("field", key)), el("dd", {}, renderValue(key, value, maskedBy)));
  }
  const parties = el("table", { class: "parties" },
    el("thead", {}, el("tr", {}, ["身份", "姓名", "性别", "出生日期", "身份证号", "电话", "住址"].map((h) => el("th", {}, h)))));
  const body = el("tbody");
  (entry.fields.parties || []).forEach((party, index) => {
    const sub = {};
    for (const m of entry.masked) {
      const prefix = `parties[${index}].`;
      if (m.field.startsWith(prefix)) sub[m.field.slice(prefix.length)] = m;
    }
    const row = el("tr", { class: index === entry.party_index ? "self" : "" });
    for (const key of ["role", "name", "gender", "date_of_birth", "id_number", "phone", "address"]) {
      row.append(el("td", {}, party[key] === null || party[key] === undefined ? "—" : renderValue(key, party[key], sub)));
    }
    body.append(row);
  });
  parties.append(body);
  return el("li", { class: `entry agency-${entry.agency}`, dataset: { event: entry.event_id } },
    el("div", { class: "when" }, localDate(entry.occurred_at)),
    el("div", { class: "what" },
      el("div", { class: "line" },
        el("span", { class: `badge agency agency-${entry.agency}` }, label("agency", entry.agency)),
        entry.stage ? el("span", { class: "badge stage" }, label("stage", entry.stage)) : null,
        el("strong", { title: entry.event_type }, label("event_type", entry.event_type)),
        el("span", { class: "office" }, entry.office_name || entry.office_code)),
      el("div", { class: "line meta" },
        `本人身份：${label("party_role", entry.role)}`,
        entry.case_ref ? ` · 案号：${entry.case_ref}` : "",
        entry.dispute_id ? el("button", { type: "button", class: "link thread-link", onclick: () => filterThread(entry.dispute_id) },
          ` · 纠纷线索 ${entry.dispute_id}`) : ""),
      fields, parties));
}

function filterThread(disputeId) {
  state.dispute = state.dispute === disputeId ? null : disputeId;
  state.offset = 0;
  loadHistory();
}

async function loadThreads() {
  const box = clear($("threads"));
  try {
    const data = await api(`/api/v1/persons/${encodeURIComponent(state.person)}/disputes`, ctx());
    for (const thread of data.disputes) {
      const steps = el("ol", { class: "steps" });
      for (const ev of thread.events) {
        steps.append(el("li", { class: `step agency-${ev.agency}`, title: `${label("event_type", ev.event_type)} · ${localDate(ev.occurred_at)}` },
          el("span", { class: "step-agency" }, label("agency", ev.agency)), " ", label("stage", ev.stage)));
      }
      box.append(el("div", { class: "thread" },
        el("button", { type: "button", class: "link", onclick: () => filterThread(thread.dispute_id) }, thread.dispute_id),
        el("span", { class: "meta" }, ` ${localDate(thread.first_at)} — ${localDate(thread.last_at)} · `,
          thread.agencies.map((a) => label("agency", a)).join(" → ")),
        steps));
    }
    if (!data.disputes.length) box.append(el("p", { class: "meta" }, "无纠纷线索"));
  } catch (err) {
    box.append(el("p", { class: "error" }, errorText(err)));
  }
}

async function loadAlerts() {
  const box = clear($("alerts"));
  try {
    const data = await api(`/api/v1/persons/${encodeURIComponent(state.person)}/alerts`, ctx());
    for (const alert of data.alerts) {
      box.append(el("div", { class: `alert level-${alert.level}`, title: alert.rule },
        el("strong", {}, `${label("level", alert.level)}色预警`), " ", label("alert_rule", alert.rule),
        el("span", { class: "meta" }, ` · ${label("alert_status", alert.status)} · ${localDate(alert.raised_at)}`)));
    }
    if (!data.alerts.length) box.append(el("div", { class: "alert none" }, "无预警 No alerts"));
  } catch (err) {
    box.append(el("div", { class: "error" }, errorText(err)));
  }
}

// -- consent ---------------------------------------------------------------------------------------------
// Recorded at intake by the case worker (or by the DPO), withdrawn the same way; the next request honours it.
async function loadConsents() {
  const panel = $("consent-panel");
  const list = clear($("consent-list"));
  $("consent-error").textContent = "";
  let data;
  try {
    data = await api(`/api/v1/persons/${encodeURIComponent(state.person)}/consents`, ctx());
  } catch (err) {
    panel.hidden = true;
    return;
  }
  const offer = data.offered || {};
  const classes = offer.field_classes || [];
  panel.hidden = !classes.length && !data.consents.length;
  $("consent-offer").textContent = classes.length
    ? "当事人同意后可查看：" + unlocksText(offer) : "本角色/目的无需当事人同意";
  const scope = clear($("consent-scope"));
  for (const c of classes) {
    scope.append(el("label", {}, el("input", { type: "checkbox", name: "scope", value: c, checked: true }), " ",
      label("field_class", c)));
  }
  $("consent-form").hidden = !classes.length;
  for (const consent of data.consents) {
    const status = consent.active ? "有效" : (consent.withdrawn_at ? "已撤回" : "已失效");
    const item = el("li", { class: `consent ${consent.active ? "active" : "inactive"}`, dataset: { consent: consent.consent_id } },
      el("strong", {}, `${label("purpose", consent.purpose)} · ${status}`),
      el("span", { class: "meta" }, ` · 授予：${label("role", consent.grantee_role)} · 范围：`,
        consent.field_classes.map((c) => label("field_class", c)).join("、"),
        ` · 有效期至：${consent.valid_until_local ? consent.valid_until_local.slice(0, 10) : "长期"}`),
      el("div", { class: "meta unlocks" }, "解锁：" + unlocksText(consent.unlocks)));
    if (consent.active) {
      item.append(el("button", { type: "button", class: "link withdraw", onclick: () => withdrawConsent(consent.consent_id) },
        "撤回同意"));
    }
    list.append(item);
  }
}

function unlocksText(unlocks) {
  const parts = [];
  if (unlocks.field_classes && unlocks.field_classes.length) {
    parts.push(unlocks.field_classes.map((c) => label("field_class", c)).join("、") + "字段");
  }
  if (unlocks.event_types && unlocks.event_types.length) {
    parts.push(unlocks.event_types.map((t) => label("event_type", t)).join("、"));
  }
  return parts.join("；") || "—";
}

async function recordConsent() {
  const form = $("consent-form");
  const scope = [...form.querySelectorAll("input[name=scope]:checked")].map((b) => b.value);
  const body = { field_classes: scope };
  if (form.until.value) body.valid_until = form.until.value + "T23:59:59";
  $("consent-error").textContent = "";
  try {
    await api(`/api/v1/persons/${encodeURIComponent(state.person)}/consents`, ctx(),
      { method: "POST", body: JSON.stringify(body) });
  } catch (err) {
    $("consent-error").textContent = errorText(err);
    return;
  }
  await openPerson(state.person);   // what the consent unlocks shows at once
}

async function withdrawConsent(consentId) {
  try {
    await api(`/api/v1/consents/${encodeURIComponent(consentId)}/withdraw`, ctx(), { method: "POST" });
  } catch (err) {
    $("consent-error").textContent = errorText(err);
    return;
  }
  await openPerson(state.person);
}

// -- wiring --------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("sign-out").addEventListener("click", signOut);
  $("role").addEventListener("change", fillPurposes);
  $("context-form").addEventListener("submit", (e) => { e.preventDefault(); openCase(); });
  $("search-kind").addEventListener("change", searchKindChanged);
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });
  $("filter-form").addEventListener("submit", (e) => { e.preventDefault(); state.offset = 0; loadHistory(); });
  $("consent-form").addEventListener("submit", (e) => { e.preventDefault(); recordConsent(); });
  $("prev-page").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadHistory(); });
  $("next-page").addEventListener("click", () => { state.offset += PAGE_SIZE; loadHistory(); });
  const saved = sessionStorage.getItem("justlink.token");
  if (saved) signIn(saved);
});
