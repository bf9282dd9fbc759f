// On the case worker's page: give the party on screen an access code at intake (POST /api/v1/case/party-codes).
// The code is shown once, to be written on the party's slip; only its keyed hash is kept by the hub.
"use strict";

async function issuePartyCode() {
  const slip = $("party-code");
  slip.hidden = false;
  slip.textContent = "";
  try {
    const issued = await api("/api/v1/case/party-codes", ctx(),
      { method: "POST", body: JSON.stringify({ person_id: state.person }) });
    slip.append(el("strong", { id: "party-code-value" }, issued.code),
      ` 有效期至 ${issued.expires_local.slice(0, 10)} · 仅显示一次，请抄交当事人；当事人在 /my 凭此码查询案件进展和谁查看了其信息（重新发放后旧码失效）`);
  } catch (err) {
    slip.append(el("span", { class: "error" }, errorText(err)));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("issue-party-code").addEventListener("click", issuePartyCode);
});
