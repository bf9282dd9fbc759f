// On the case worker's page, for a justice office's resettlement staff (role correction_officer): the released
// prisoners routed to the office (必接必送, GET /api/v1/handovers, purpose resettlement_handover) — numbers and
// days, no person — open past due first. Opening one opens the hand-over as the case (purpose
// community_correction_supervision): the person, their record and the red alert are read there, audited.
"use strict";

const HANDOVER_STATUS = { open_overdue: "逾期未衔接", pending: "待衔接", received_late: "逾期衔接", received_in_time: "按时衔接" };

async function showHandovers() {
  const panel = $("handovers-panel");
  panel.hidden = !(state.me && state.me.roles.some((r) => r.role === "correction_officer"));
  if (panel.hidden) return;
  const list = clear($("handovers-list"));
  $("handovers-error").textContent = "";
  let data;
  try {
    data = await api("/api/v1/handovers", { token: state.token, role: "correction_officer", purpose: "resettlement_handover" });
  } catch (err) {
    $("handovers-error").textContent = errorText(err);
    return;
  }
  $("handovers-summary").textContent = `${data.offices.join("、")}：逾期未衔接 ${data.open} 人 · 共 ${data.handovers.length} 份释放通知`;
  for (const h of data.handovers.filter((r) => r.status !== "received_in_time")) {
    const late = h.status === "open_overdue" ? `，逾期 ${h.days_overdue} 天` : "";
    const crossing = h.cross_county ? ` · 原判 ${h.sentenced_in}（跨县）` : "";
    list.append(el("li", {},
      el("button", { type: "button", class: `card handover ${h.status}`, dataset: { notice: h.notice_number },
        onclick: () => openHandover(h.notice_number) },
        el("strong", {}, `${HANDOVER_STATUS[h.status]}${late}`),
        el("span", { class: "meta" }, `${h.notice_number} · 释放 ${h.released_on} · 应衔接 ${h.due_on}${crossing}`))));
  }
  if (!list.childElementCount) list.append(el("li", { class: "meta" }, "无待衔接人员"));
}

function openHandover(noticeNumber) {
  $("role").value = "correction_officer";
  fillPurposes();
  $("purpose").value = "community_correction_supervision";
  $("case-id").value = noticeNumber;
  openCase();
}
