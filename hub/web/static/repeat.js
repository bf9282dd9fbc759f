// On the case worker's page: repeat-mediation warnings (重复调解预警) of the open mediation or court case
// (GET /api/v1/case/warnings): another office has the same dispute in hand; and for a lawsuit or an
// enforcement filing, a judicially confirmed mediation agreement it goes back on (反悔重诉, not honoured).
"use strict";

async function showRepeatWarnings(caseKind) {
  const box = clear($("repeat-warnings"));
  box.hidden = true;
  if (!["mediation", "court"].includes(caseKind)) return;
  let data;
  try {
    data = await api("/api/v1/case/warnings", ctx());
  } catch (err) {
    box.append(el("p", { class: "error" }, errorText(err)));
    box.hidden = false;
    return;
  }
  for (const w of data.warnings) {
    if (w.kind !== "repeat_intake") { box.append(agreementFlag(w)); continue; }
    const when = w.taken_in === "earlier" ? "本案受理前，" : "本案受理后，";
    const what = w.taken_in === "earlier" ? "已受理本纠纷" : "又受理了本纠纷";
    const state = w.open ? "在办" : "已结";
    box.append(el("div", { class: "alert level-red repeat-warning" },
      el("strong", {}, "重复调解预警 "),
      `${when}${label("agency", w.agency)}·${w.office_name}${what}：${w.case_number}（${w.opened_local.slice(0, 10)}受理，` +
      `当前阶段：${label("stage", w.stage)}，${state}）· ${label("repeat_why", w.why)}`));
  }
  box.hidden = !data.warnings.length;
}

function agreementFlag(w) {
  const agreement = `调解协议${w.case_number}（${w.office_name || "调解组织"}）已于${(w.confirmed_local || "").slice(0, 10)}` +
    `经${w.confirmation_office}司法确认（${w.confirmation_number}）`;
  const text = w.kind === "resued_after_confirmation" ? `本案当事人之间的${agreement}。` : `本执行案件针对的${agreement}。`;
  return el("div", { class: "alert level-yellow repeat-warning" }, el("strong", {}, label("repeat_pair", w.kind) + " "),
    text + ` · ${label("repeat_why", w.why)}`);
}
