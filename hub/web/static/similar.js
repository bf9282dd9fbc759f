// On the case worker's page: similar cases (类案推送) for the open mediation or court case
// (GET /api/v1/case/similar): how disputes like this one ended in the county, from plain facts only.
"use strict";

const SIMILAR_KINDS = ["mediation", "court"];

/** After a case opened: offer similar cases for a mediation or court case, hide them otherwise. */
function offerSimilar(caseKind) {
  $("similar-open").hidden = !SIMILAR_KINDS.includes(caseKind);
  $("similar-panel").hidden = true;
}

function percent(rate) { return rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)}%`; }

async function loadSimilar() {
  const panel = $("similar-panel");
  panel.hidden = false;
  $("similar-error").textContent = "";
  let data;
  try {
    data = await api("/api/v1/case/similar", ctx());
  } catch (err) {
    $("similar-error").textContent = errorText(err);
    return;
  }
  const facts = data.case_facts;
  const known = Object.entries(facts).filter(([k, v]) => v && k !== "dispute_type")
    .map(([k, v]) => `${label("similar_fact", k)} ${factText(k, v)}`);
  $("similar-facts").textContent = `${label("dispute_type", facts.dispute_type)} · ${known.join(" · ") || "未记录可比要素"}`;
  const rate = data.success_rate === null
    ? `不足${data.min_rate_base}件，不计成功率` : `调解成功率 ${percent(data.success_rate)}`;
  $("similar-summary").textContent =
    `同类已结纠纷 ${data.same_type_concluded} 件，其中相似 ${data.similar_total} 件；${rate}`;
  const total = data.similar_total || 1;
  const order = ["agreement", "confirmed", "failed", "judgment", "enforcement"];
  bars($("similar-outcomes"), order.filter((o) => data.outcomes[o]).map((o) =>
    [label("similar_outcome", o), `${data.outcomes[o]} 件`, data.outcomes[o] / total]));
  const table = clear($("similar-table"));
  table.append(el("thead", {}, el("tr", {}, ...["年份", "结果", "用时（天）", "相符要素", "金额段（元）", "当事人关系",
    "调解层级", "乡镇"].map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const item of data.similar) {
    body.append(el("tr", {}, el("td", {}, String(item.year)), el("td", {}, label("similar_outcome", item.outcome)),
      el("td", {}, String(item.days)), el("td", {}, item.matched.map((m) => label("similar_fact", m)).join("、") || "—"),
      el("td", {}, item.amount_band || "—"), el("td", {}, label("party_relationship", item.relationship)),
      el("td", {}, label("mediation_level", item.level)), el("td", {}, item.township || "—")));
  }
  if (!data.similar.length) body.append(el("tr", {}, el("td", { colspan: 8 }, "暂无相似的已结纠纷")));
  table.append(body);
}

function factText(kind, value) {
  if (kind === "relationship") return label("party_relationship", value);
  if (kind === "level") return label("mediation_level", value);
  return value;
}

/** Horizontal bars: [label, value shown, share of the longest bar (0..1)]. */
function bars(node, items) {
  clear(node);
  for (const [text, value, share] of items) {
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${Math.round(share * 100)}%`;  // CSSOM, not a style attribute: the page's CSP allows it
    node.append(el("div", { class: "bar-row" }, el("span", { class: "bar-label" }, text),
      el("span", { class: "bar-track" }, fill), el("span", { class: "bar-value" }, value)));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("similar-open").addEventListener("click", loadSimilar);
});
