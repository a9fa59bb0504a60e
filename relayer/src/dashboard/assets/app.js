// Fairshare dashboard: plain ES module, no build step. Every figure comes from the chain through
// the dashboard's API (/api/info, /api/query); transactions are signed by the browser wallet
// (window.keplr's offline signer) or, on the localnet, by the clearly marked development signer.

const view = document.getElementById("view");
const problemBox = document.getElementById("problem");
const noticeBox = document.getElementById("notice");
let info = null; // /api/info
let signer = null; // { label, getAccounts(), signDirect(address, doc) }

// ------------------------------------------------------------------ API
class ApiError extends Error {
  constructor(message, kind) {
    super(message);
    this.kind = kind;
  }
}

async function api(path, body) {
  let res;
  try {
    res = await fetch(path, body === undefined ? {} : {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(`The dashboard server does not answer (${e.message}). Is \`fairshare dashboard\` still running?`, "server_down");
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(json.error || `${path}: HTTP ${res.status}`, json.kind || "http");
  return json;
}

const query = (contract, msg) => api("/api/query", { contract, msg });

/** Every page of a paginated query: `msg(startAfter)` builds the query, `key` names the list. */
async function all(contract, msg, key, cursor) {
  const out = [];
  let after;
  for (;;) {
    const page = (await query(contract, msg(after)))[key];
    out.push(...page);
    if (page.length < 30) return out;
    after = cursor(page[page.length - 1]);
  }
}

// ------------------------------------------------------------------ formatting
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const int = (s) => (s === null || s === undefined ? "–" : BigInt(s).toLocaleString("en-US"));
const dec = (s, digits = 4) => (s === null || s === undefined ? "–" : Number(s).toFixed(digits));
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const short = (a) => (a && a.length > 20 ? `${a.slice(0, 10)}…${a.slice(-6)}` : a ?? "");
const addr = (a) => `<span class="addr" title="${esc(a)}">${esc(short(a))}</span>`;
const pill = (s) => `<span class="pill ${esc(String(s).toLowerCase())}">${esc(String(s).replace(/_/g, " "))}</span>`;
const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

function roleOf(address) {
  const c = info?.contracts ?? {};
  const names = { round_manager: "the round-manager", escrow: "the escrow", token: "the incentive token", dao: "the DAO" };
  for (const [k, v] of Object.entries(c)) if (v === address) return names[k];
  return null;
}
const who = (a) => roleOf(a) ?? addr(a);

function expiration(e) {
  if (!e) return "–";
  if (e.at_height !== undefined) return `block ${int(e.at_height)}`;
  if (e.at_time !== undefined) return new Date(Number(BigInt(e.at_time) / 1000000n)).toISOString();
  return "never";
}
function duration(d) {
  if (!d) return "none";
  if (d.height !== undefined) return `${int(d.height)} blocks`;
  if (d.time !== undefined) return `${int(d.time)} s`;
  return JSON.stringify(d);
}
function coins(list) {
  return (list ?? []).map((c) => `${int(c.amount)} ${esc(c.denom)}`).join(" + ") || "nothing";
}

/** `obj` as dotted paths → JSON text of each leaf (arrays are leaves). */
function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = Array.isArray(v) ? v.map((x) => (typeof x === "string" ? short(x) : JSON.stringify(x))).join(", ") : String(v);
  }
  return out;
}

/** The round parameters a proposal would change, against the current ones (`currentParams`). */
let currentParams = null;
function paramChanges(next) {
  const now = flatten(currentParams ?? {});
  const changes = Object.entries(flatten(next)).filter(([k, v]) => now[k] !== v);
  if (changes.length === 0) return "the values in force now (nothing would change)";
  return changes.map(([k, v]) => `${esc(k.replace(/_/g, " "))} ${now[k] !== undefined ? `from ${esc(now[k])} ` : ""}to ${esc(v)}`).join("; ");
}

/** A proposal's message in plain words. */
function describeMsg(m) {
  if (m.bank?.send) return `Send ${coins(m.bank.send.amount)} to ${who(m.bank.send.to_address)}.`;
  if (m.bank?.burn) return `Burn ${coins(m.bank.burn.amount)}.`;
  const w = m.wasm;
  if (w?.execute) {
    let inner;
    try { inner = JSON.parse(atob(w.execute.msg)); } catch { inner = null; }
    const target = who(w.execute.contract_addr);
    const funds = w.execute.funds?.length ? `, attaching ${coins(w.execute.funds)}` : "";
    if (!inner) return `Call ${target} with an undecodable message${funds}.`;
    const [name, args] = Object.entries(inner)[0] ?? ["?", {}];
    const a = args ?? {};
    switch (name) {
      case "transfer": return `Transfer ${int(a.amount)} tokens from the DAO to ${who(a.recipient)}${funds}.`;
      case "burn": return `Burn ${int(a.amount)} of the DAO's tokens${funds}.`;
      case "send": return `Send ${int(a.amount)} tokens to ${who(a.contract)} with a hook message${funds}.`;
      case "penalize_evaluator": return `Slash evaluator ${addr(a.evaluator)} in round ${esc(a.round_id)} by ${int(a.amount)}${a.reason ? ` (“${esc(a.reason)}”)` : ""}${funds}.`;
      case "update_params": return `Change the round parameters of ${target}: ${paramChanges(a.params ?? a)}${funds}.`;
      case "update_config": return `Change the configuration of ${target}: ${esc(JSON.stringify(a))}${funds}.`;
      default: return `Call ${target}: ${esc(name.replace(/_/g, " "))} ${esc(JSON.stringify(a))}${funds}.`;
    }
  }
  if (w?.migrate) return `Migrate ${who(w.migrate.contract_addr)} to code ${esc(w.migrate.new_code_id)}.`;
  if (w?.instantiate) return `Instantiate code ${esc(w.instantiate.code_id)} (“${esc(w.instantiate.label)}”).`;
  if (w?.update_admin) return `Make ${who(w.update_admin.admin)} the admin of ${who(w.update_admin.contract_addr)}.`;
  if (w?.clear_admin) return `Remove the admin of ${who(w.clear_admin.contract_addr)}.`;
  return `Other message: ${esc(JSON.stringify(m))}`;
}

// ------------------------------------------------------------------ problems and notices
function showProblem(e) {
  const hints = {
    node_down: "The node is down or unreachable; the page retries every 5 s.",
    wrong_chain: "The node runs another chain than the one configured.",
    bad_contract: "The configured contract address is wrong or not deployed on this chain.",
    server_down: "",
  };
  problemBox.hidden = false;
  problemBox.dataset.kind = e.kind ?? "error";
  problemBox.innerHTML = `<strong>${esc(e.message)}</strong>${hints[e.kind] ? `<br>${esc(hints[e.kind])}` : ""}`;
}
function clearProblem() { problemBox.hidden = true; problemBox.textContent = ""; delete problemBox.dataset.kind; }
function notice(text) { noticeBox.hidden = false; noticeBox.textContent = text; }

// ------------------------------------------------------------------ signing
function devSigner(account) {
  return {
    label: `DEV test key: ${account.name}`,
    dev: true,
    async getAccounts() { return [{ address: account.address, pubkey: unb64(account.pubkey), algo: "secp256k1" }]; },
    async signDirect(address, doc) {
      const r = await api("/api/dev/sign", {
        address,
        body_bytes: b64(doc.bodyBytes),
        auth_info_bytes: b64(doc.authInfoBytes),
        chain_id: doc.chainId,
        account_number: String(doc.accountNumber),
      });
      return { signed: doc, signature: { signature: r.signature, pub_key: { type: "tendermint/PubKeySecp256k1", value: r.pub_key } } };
    },
  };
}

async function keplrSigner() {
  if (!window.keplr) throw new ApiError("No browser wallet found: install Keplr (or a wallet with the same window.keplr API) and reload.", "wallet");
  await window.keplr.enable(info.chain_id);
  const s = window.keplr.getOfflineSigner(info.chain_id);
  return { label: "browser wallet", getAccounts: () => s.getAccounts(), signDirect: (a, d) => s.signDirect(a, d) };
}

/** Signs and sends one contract call; returns the tx result. */
async function sendTx(contract, msg) {
  if (!signer) throw new ApiError("Choose who signs first (“Sign with”, at the top).", "wallet");
  const [acct] = await signer.getAccounts();
  const prep = await api("/api/tx/prepare", { sender: acct.address, pubkey: b64(acct.pubkey), contract, msg });
  const doc = {
    bodyBytes: unb64(prep.body_bytes),
    authInfoBytes: unb64(prep.auth_info_bytes),
    chainId: prep.chain_id,
    accountNumber: BigInt(prep.account_number),
  };
  const { signed, signature } = await signer.signDirect(acct.address, doc);
  return api("/api/tx/broadcast", {
    body_bytes: b64(signed.bodyBytes),
    auth_info_bytes: b64(signed.authInfoBytes),
    signature: signature.signature,
  });
}

async function signerAddress() {
  if (!signer) return null;
  const [a] = await signer.getAccounts();
  return a.address;
}

// ------------------------------------------------------------------ views
async function roundsView() {
  const rounds = (await all("round_manager", (after) => ({ rounds: { start_after: after, limit: 30 } }), "rounds", (r) => r.id)).reverse();
  const rows = rounds.map((r) => {
    const d = r.deadlines;
    return `<tr data-round="${r.id}">
      <td><a href="#/round/${r.id}">${r.id}</a></td>
      <td data-field="phase">${pill(r.phase)}</td>
      <td class="num" data-field="joined">${r.joined}</td>
      <td class="num" data-field="committed">${r.committed}</td>
      <td class="num" data-field="evaluators_bonded">${r.evaluators_bonded}</td>
      <td class="num" data-field="reports">${r.reports} / ${r.params.evaluator_quorum}</td>
      <td class="num" data-field="join_until">${d.join_until}</td>
      <td class="num" data-field="commit_until">${d.commit_until}</td>
      <td class="num" data-field="report_until">${d.report_until}</td>
      <td class="num" data-field="reveal_until">${d.reveal_until}</td>
      <td class="num" data-field="dispute_until">${d.dispute_until}</td>
      <td class="num" data-field="settle_until">${d.settle_until}</td>
      <td class="num" data-field="pool">${r.settlement ? int(r.settlement.pool) : "–"}</td>
    </tr>`;
  }).join("");
  view.innerHTML = `<h2>Rounds <span class="muted">(block ${int(info.height)})</span></h2>
    ${rounds.length === 0 ? `<p class="muted">No round has been opened yet.</p>` : `<div class="scroll"><table id="rounds">
    <thead><tr><th>round</th><th>phase</th><th class="num">joined</th><th class="num">committed</th><th class="num">evaluators</th>
    <th class="num">reports / quorum</th><th class="num">join until</th><th class="num">commit until</th><th class="num">reports until</th>
    <th class="num">reveals until</th><th class="num">disputes until</th><th class="num">settle by</th><th class="num">pool</th></tr></thead>
    <tbody>${rows}</tbody></table></div>`}
    <p class="muted">Deadlines are block heights.</p>`;
}

async function roundView(id) {
  const r = await query("round_manager", { round: { round_id: id } });
  const commitments = await all("round_manager", (after) => ({ commitments: { round_id: id, start_after: after, limit: 30 } }), "commitments", (c) => c.participant);
  const participants = await all("round_manager", (after) => ({ participants: { round_id: id, start_after: after, limit: 30 } }), "participants", (p) => p.participant ?? p.address);
  const evaluators = (await query("round_manager", { evaluators: { round_id: id } })).evaluators;
  const scores = {};
  for (const e of evaluators) {
    if (e.revealed_at === null || e.revealed_at === undefined) continue;
    const list = await all("round_manager", (after) => ({ report_scores: { round_id: id, evaluator: e.evaluator, start_after: after, limit: 30 } }), "scores", (s) => s.participant).catch(() => []);
    scores[e.evaluator] = Object.fromEntries(list.map((s) => [s.participant, s]));
  }
  const results = r.settlement
    ? Object.fromEntries((await all("round_manager", (after) => ({ results: { round_id: id, start_after: after, limit: 30 } }), "results", (x) => x.participant)).map((x) => [x.participant, x]))
    : {};
  const evalResults = {};
  if (r.settlement) {
    for (const e of evaluators) {
      evalResults[e.evaluator] = await query("round_manager", { evaluator_result: { round_id: id, evaluator: e.evaluator } }).catch(() => null);
    }
  }
  const commitOf = Object.fromEntries(commitments.map((c) => [c.participant, c]));
  const names = [...new Set([...participants.map((p) => p.participant ?? p.address), ...commitments.map((c) => c.participant), ...Object.keys(results)])].filter(Boolean).sort();
  const revealed = evaluators.filter((e) => scores[e.evaluator]);
  const prow = names.map((p) => {
    const c = commitOf[p];
    const res = results[p];
    const evalCells = revealed.map((e) => {
      const s = scores[e.evaluator][p];
      return `<td class="num">${s ? `${dec(s.value)} ± ${dec(s.std_error)}` : "–"}</td>`;
    }).join("");
    return `<tr data-participant="${esc(p)}"><td><a href="#/participant/${esc(p)}">${addr(p)}</a></td>
      <td class="addr" data-field="commitment" title="${esc(c?.commitment ?? "")}">${c ? esc(c.commitment.slice(0, 16)) + "…" : "–"}</td>
      ${evalCells}
      <td class="num" data-field="score">${res?.score ? `${dec(res.score.value)} ± ${dec(res.score.std_error)}` : "–"}</td>
      <td data-field="verdict">${res ? pill(res.verdict) : "–"}</td>
      <td class="num" data-field="stake">${res ? int(res.stake) : "–"}</td>
      <td class="num" data-field="reward">${res ? int(res.reward) : "–"}</td>
      <td class="num" data-field="slash">${res ? int(res.slash) : "–"}</td></tr>`;
  }).join("");
  const erow = evaluators.map((e) => {
    const x = evalResults[e.evaluator];
    return `<tr data-evaluator="${esc(e.evaluator)}"><td>${addr(e.evaluator)}</td><td class="num">${int(e.bond)}</td>
      <td class="num">${e.revealed_at ?? "not yet"}</td><td>${e.struck_out ? pill("struck out") : ""}</td>
      <td>${x ? pill(x.verdict) : "–"}</td><td class="num">${x ? dec(x.agreement) : "–"}</td>
      <td class="num">${x ? int(x.reward) : "–"}</td><td class="num">${x ? int(x.slash) : "–"}</td></tr>`;
  }).join("");
  const s = r.settlement;
  view.innerHTML = `<h2>Round ${id} ${pill(r.phase)}</h2>
    <div class="cards">
      <div class="card"><div class="k">joined / committed</div><div class="v">${r.joined} / ${r.committed}</div></div>
      <div class="card"><div class="k">reports / quorum</div><div class="v">${r.reports} / ${r.params.evaluator_quorum}</div></div>
      <div class="card"><div class="k">ΔU (nats/token)</div><div class="v">${s ? dec(s.delta_u) : "–"}</div></div>
      <div class="card"><div class="k">reward pool</div><div class="v">${s ? int(s.pool) : "–"}</div></div>
      <div class="card"><div class="k">slashed</div><div class="v">${s ? int(s.total_slashed) : "–"}</div></div>
      <div class="card"><div class="k">settle by block</div><div class="v">${r.deadlines.settle_until}</div></div>
    </div>
    <h2>Participants</h2>
    <div class="scroll"><table id="participants"><thead><tr><th>participant</th><th>commitment</th>
      ${revealed.map((e) => `<th class="num">φ by ${esc(short(e.evaluator))}</th>`).join("")}
      <th class="num">consensus φ</th><th>verdict</th><th class="num">stake</th><th class="num">reward</th><th class="num">slash</th></tr></thead>
      <tbody>${prow || `<tr><td colspan="8" class="muted">nobody has joined</td></tr>`}</tbody></table></div>
    <h2>Evaluators</h2>
    <div class="scroll"><table id="evaluators"><thead><tr><th>evaluator</th><th class="num">bond</th><th class="num">revealed at</th><th></th>
      <th>verdict</th><th class="num">agreement</th><th class="num">pay</th><th class="num">slash</th></tr></thead>
      <tbody>${erow || `<tr><td colspan="8" class="muted">no evaluator has bonded</td></tr>`}</tbody></table></div>`;
}

/** Settled results of every round, by participant. */
async function history() {
  const rounds = await all("round_manager", (after) => ({ rounds: { start_after: after, limit: 30 } }), "rounds", (r) => r.id);
  const byParticipant = {};
  for (const r of rounds.filter((r) => r.settlement)) {
    const results = await all("round_manager", (after) => ({ results: { round_id: r.id, start_after: after, limit: 30 } }), "results", (x) => x.participant);
    for (const x of results) (byParticipant[x.participant] ??= []).push({ round: r, result: x });
  }
  return byParticipant;
}

async function participantsView() {
  const h = await history();
  const rows = Object.entries(h).sort().map(([p, list]) => {
    const total = list.reduce((t, x) => t + BigInt(x.result.reward), 0n);
    return `<tr><td><a href="#/participant/${esc(p)}">${addr(p)}</a></td><td class="num">${list.length}</td><td class="num">${int(total)}</td></tr>`;
  }).join("");
  view.innerHTML = `<h2>Participants of settled rounds</h2><div class="scroll"><table><thead><tr><th>participant</th><th class="num">rounds</th><th class="num">total reward</th></tr></thead>
    <tbody>${rows || `<tr><td colspan="3" class="muted">no settled round yet</td></tr>`}</tbody></table></div>`;
}

/** Inline SVG: per round, the share of the pool paid vs the share of ΔU (Shapley value φ / ΔU). */
function chart(list) {
  const W = 640, H = 220, pad = 36, n = list.length;
  const pts = list.map(({ round, result }) => {
    const pool = Number(round.settlement.pool) || 0;
    const du = Number(round.settlement.delta_u) || 0;
    return {
      id: round.id,
      paid: pool > 0 ? Number(result.reward) / pool : 0,
      shapley: du !== 0 && result.score ? Number(result.score.value) / du : 0,
    };
  });
  const max = Math.max(0.05, ...pts.flatMap((p) => [p.paid, p.shapley]));
  const min = Math.min(0, ...pts.map((p) => p.shapley));
  const y = (v) => H - pad - ((v - min) / (max - min)) * (H - 2 * pad);
  const slot = (W - 2 * pad) / Math.max(n, 1);
  const bw = Math.min(28, slot / 3);
  const bars = pts.map((p, i) => {
    const x = pad + i * slot + slot / 2;
    const bar = (v, dx, color, label) => `<rect x="${x + dx}" y="${Math.min(y(v), y(0))}" width="${bw}" height="${Math.abs(y(v) - y(0))}" fill="${color}"><title>${label}: ${pct(v)}</title></rect>`;
    return bar(p.shapley, -bw - 1, "#9db5f0", `round ${p.id} Shapley share`) + bar(p.paid, 1, "#2354c7", `round ${p.id} reward share`) +
      `<text x="${x}" y="${H - pad + 14}" text-anchor="middle">round ${p.id}</text>`;
  }).join("");
  return `<svg id="reward-chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="reward share against Shapley share per round">
    <line x1="${pad}" x2="${W - pad}" y1="${y(0)}" y2="${y(0)}" stroke="#98a2b3"/>
    <text x="${pad - 4}" y="${y(max) + 4}" text-anchor="end">${pct(max)}</text><text x="${pad - 4}" y="${y(0) + 4}" text-anchor="end">0</text>
    ${bars}
    <rect x="${W - 220}" y="6" width="10" height="10" fill="#9db5f0"/><text x="${W - 206}" y="15">Shapley share φ / ΔU</text>
    <rect x="${W - 220}" y="22" width="10" height="10" fill="#2354c7"/><text x="${W - 206}" y="31">reward share of the pool</text></svg>`;
}

async function participantView(p) {
  const list = (await history())[p] ?? [];
  const rows = list.map(({ round, result }) => `<tr><td><a href="#/round/${round.id}">${round.id}</a></td>
    <td class="num">${result.score ? dec(result.score.value) : "–"}</td><td class="num">${dec(round.settlement.delta_u)}</td>
    <td>${pill(result.verdict)}</td><td class="num">${int(result.reward)}</td><td class="num">${int(round.settlement.pool)}</td><td class="num">${int(result.slash)}</td></tr>`).join("");
  view.innerHTML = `<h2>Participant ${addr(p)}</h2>
    ${list.length ? chart(list) : ""}
    <div class="scroll"><table><thead><tr><th>round</th><th class="num">Shapley φ</th><th class="num">ΔU</th><th>verdict</th><th class="num">reward</th><th class="num">pool</th><th class="num">slash</th></tr></thead>
    <tbody>${rows || `<tr><td colspan="7" class="muted">no settled round with this participant</td></tr>`}</tbody></table></div>`;
}

async function daoView() {
  if (!info.contracts.dao) { view.innerHTML = `<p class="muted">This deployment has no DAO.</p>`; return; }
  const [cfg, total, proposals, rmConfig] = await Promise.all([
    query("dao", { config: {} }),
    query("dao", { total_power: {} }),
    all("dao", (after) => ({ proposals: { start_after: after, limit: 30 } }), "proposals", (p) => p.id),
    query("round_manager", { config: {} }),
  ]);
  currentParams = rmConfig.params;
  const me = await signerAddress();
  const mine = me ? await Promise.all([query("dao", { stake: { address: me } }), query("dao", { voting_power: { address: me } })]) : null;
  const cards = `<div class="cards">
    <div class="card"><div class="k">quorum</div><div class="v">${pct(Number(cfg.quorum))}</div></div>
    <div class="card"><div class="k">threshold (yes of yes+no)</div><div class="v">${pct(Number(cfg.threshold))}</div></div>
    <div class="card"><div class="k">voting period</div><div class="v">${duration(cfg.voting_period)}</div></div>
    <div class="card"><div class="k">timelock</div><div class="v">${duration(cfg.timelock)}</div></div>
    <div class="card"><div class="k">deposit</div><div class="v">${int(cfg.deposit)}</div></div>
    <div class="card"><div class="k">total voting power</div><div class="v" data-field="total_power">${int(total.power)}</div></div>
  </div>`;
  const stakeForm = `<h2>Your stake</h2>${me ? `<p>${addr(me)}: staked <strong data-field="my_stake">${int(mine[0].staked)}</strong>, voting power <strong>${int(mine[1].power)}</strong>.</p>
    <form id="stake-form"><input id="stake-amount" type="number" min="1" step="1" placeholder="amount" required> <button type="submit">Stake tokens</button></form>` : `<p class="muted">Choose who signs (“Sign with”, at the top) to stake or vote.</p>`}`;
  const list = [...proposals].reverse().map((p) => {
    const t = p.tally;
    const yes = Number(t.yes), no = Number(t.no), ab = Number(t.abstain), tp = Number(p.total_power) || 1;
    const turnout = (yes + no + ab) / tp;
    const yesShare = yes + no > 0 ? yes / (yes + no) : 0;
    const open = p.status === "open";
    return `<article class="proposal" data-proposal="${p.id}">
      <h3>#${p.id} ${esc(p.title)} ${pill(p.status)}</h3>
      <p>${esc(p.description)}</p>
      <div>Tally: yes <strong data-field="yes">${int(t.yes)}</strong>, no <strong data-field="no">${int(t.no)}</strong>, abstain <strong data-field="abstain">${int(t.abstain)}</strong> of ${int(p.total_power)}</div>
      <div class="bar" title="turnout"><span style="left:0;width:${Math.min(100, 100 * turnout)}%;background:#2354c7"></span><span style="left:${100 * Number(p.quorum)}%;width:2px;background:#b42318"></span></div>
      <div class="muted">turnout ${pct(turnout)} (quorum ${pct(Number(p.quorum))}); yes ${pct(yesShare)} of yes+no (threshold ${pct(Number(p.threshold))}); voting ends ${expiration(p.expires)};
        ${p.executable_at ? `executable from ${expiration(p.executable_at)} until ${expiration(p.executable_until)}` : "no timelock yet"}; deposit ${int(p.deposit)} (${esc(p.deposit_status)})</div>
      <div>If passed, it will:</div>
      <ul class="msgs">${p.msgs.map((m) => `<li>${describeMsg(m)}</li>`).join("") || "<li>do nothing (a signalling proposal)</li>"}</ul>
      ${p.execution_error ? `<p class="problem">Execution failed: ${esc(p.execution_error)}</p>` : ""}
      ${open ? `<div class="vote">${["yes", "no", "abstain"].map((v) => `<button data-vote="${v}" data-id="${p.id}" ${signer ? "" : "disabled"}>Vote ${v}</button>`).join(" ")}</div>` : ""}
    </article>`;
  }).join("");
  view.innerHTML = `<h2>DAO</h2>${cards}${stakeForm}<h2>Proposals</h2>${list || `<p class="muted">No proposal yet.</p>`}`;
  view.querySelectorAll("button[data-vote]").forEach((b) => b.addEventListener("click", () => act(
    `vote ${b.dataset.vote} on proposal ${b.dataset.id}`,
    () => sendTx("dao", { vote: { proposal_id: Number(b.dataset.id), vote: b.dataset.vote } }),
  )));
  document.getElementById("stake-form")?.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const amount = document.getElementById("stake-amount").value;
    act(`stake ${amount}`, () => sendTx("token", { send: { contract: info.contracts.dao, amount: String(amount), msg: btoa(JSON.stringify({ stake: {} })) } }));
  });
}

async function treasuryView() {
  const c = info.contracts;
  const token = c.token ? await query("token", { token_info: {} }) : null;
  const bal = async (a) => (a && c.token ? (await query("token", { balance: { address: a } })).balance : null);
  const dao = c.dao ? await bal(c.dao) : null;
  const locked = c.dao ? await query("dao", { locked: {} }) : null;
  const escrow = await bal(c.escrow);
  const lockedTotal = locked ? Object.values(locked).reduce((t, v) => t + (typeof v === "string" && /^\d+$/.test(v) ? BigInt(v) : 0n), 0n) : 0n;
  view.innerHTML = `<h2>Treasury and token</h2><div class="cards">
    <div class="card"><div class="k">token</div><div class="v">${token ? `${esc(token.name)} (${esc(token.symbol)})` : "–"}</div></div>
    <div class="card"><div class="k">total supply</div><div class="v" data-field="total_supply">${token ? int(token.total_supply) : "–"}</div></div>
    <div class="card"><div class="k">DAO holds</div><div class="v" data-field="dao_balance">${dao !== null ? int(dao) : "–"}</div></div>
    <div class="card"><div class="k">of which others' (stakes, claims, deposits)</div><div class="v">${locked ? int(lockedTotal) : "–"}</div></div>
    <div class="card"><div class="k">DAO treasury, spendable</div><div class="v" data-field="treasury">${dao !== null ? int(BigInt(dao) - lockedTotal) : "–"}</div></div>
    <div class="card"><div class="k">escrow holds (tokens)</div><div class="v">${escrow !== null ? int(escrow) : "–"}</div></div>
  </div>
  <h2>Contracts</h2><div class="scroll"><table><tbody>
  ${Object.entries(c).map(([k, v]) => `<tr><th>${esc(k.replace("_", "-"))}</th><td class="addr">${esc(v ?? "none")}</td></tr>`).join("")}
  <tr><th>chain</th><td>${esc(info.chain_id)} at ${esc(info.node)}</td></tr></tbody></table></div>`;
}

// ------------------------------------------------------------------ actions and routing
async function act(what, run) {
  notice(`Signing: ${what}…`);
  try {
    const r = await run();
    notice(`Done: ${what} (tx ${short(r.tx_hash)}, block ${r.height}).`);
    await refresh();
  } catch (e) {
    noticeBox.hidden = true;
    showProblem(e instanceof ApiError ? e : new ApiError(String(e.message ?? e), "wallet"));
  }
}

async function render() {
  const [, page, arg] = (location.hash || "#/rounds").split("/");
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === page || (page === "round" && a.dataset.nav === "rounds") || (page === "participant" && a.dataset.nav === "participants")));
  switch (page) {
    case "round": return roundView(Number(arg));
    case "participants": return participantsView();
    case "participant": return participantView(decodeURIComponent(arg ?? ""));
    case "dao": return daoView();
    case "treasury": return treasuryView();
    default: return roundsView();
  }
}

let retry = null;
let signersReady = false;
async function refresh() {
  clearTimeout(retry);
  try {
    info = await api("/api/info");
    document.getElementById("chain").textContent = `${info.chain_id} · block ${info.height}`;
    clearProblem();
    if (!signersReady) {
      signersReady = true;
      await setupSigners();
    }
    await render();
    document.body.dataset.ready = "true";
  } catch (e) {
    showProblem(e instanceof ApiError ? e : new ApiError(String(e.message ?? e), "error"));
    if (!info) view.innerHTML = "";
    document.body.dataset.ready = "error";
    retry = setTimeout(refresh, 5000);
  }
}

async function setupSigners() {
  const select = document.getElementById("signer");
  if (info?.dev_signer) {
    const { accounts } = await api("/api/dev/accounts");
    for (const a of accounts) {
      const o = document.createElement("option");
      o.value = `dev:${a.name}`;
      o.textContent = `DEV test key: ${a.name}`;
      o.dataset.account = JSON.stringify(a);
      select.append(o);
    }
  }
  select.addEventListener("change", async () => {
    const o = select.selectedOptions[0];
    document.getElementById("dev-banner").hidden = !o.value.startsWith("dev:");
    try {
      signer = o.value === "" ? null : o.value === "keplr" ? await keplrSigner() : devSigner(JSON.parse(o.dataset.account));
      clearProblem();
    } catch (e) {
      signer = null;
      select.value = "";
      showProblem(e);
    }
    await render().catch(showProblem);
  });
}

window.addEventListener("hashchange", () => { noticeBox.hidden = true; render().catch(showProblem); });
await refresh();
