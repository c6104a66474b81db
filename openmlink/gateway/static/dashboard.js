// The openmlink dashboard: an MLink client over the WebSocket API like any other.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  underlier: params.get("u") || "",
  expiry: params.get("expiry") || "",
  tickers: new Set(),
  liq: new Map(),        // flat okey -> record
  atm: new Map(),        // expiry -> record
  parents: new Map(),    // broker key -> SpdrParentBrkrState
  fills: new Map(),      // fillNumber -> SpdrParentExecution
  auctions: new Map(),   // noticeNumber -> AuctionState
  risk: new Map(),       // key -> SymbolRiskSummaryV5
  dirty: new Set(["all"]),
  liqQuery: 0,
  atmQuery: 0,
};
let socket = null;

// ---------------------------------------------------------------- formatting
function num(v, d) {
  if (v === undefined || v === null || v === "") return "";
  if (typeof v !== "number") return String(v);
  if (d !== undefined) return v.toFixed(d);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e7) ? v.toExponential(3) : String(+v.toPrecision(7));
}
const pct = (v) => (v === undefined || v === null) ? "" : (100 * v).toFixed(2);
const keyOf = (r) => JSON.stringify(r.pkey || {});

function renderTable(table, cols, rows, emptyText) {
  const head = "<tr>" + cols.map(c => `<th class="${c.t ? "t" : ""}">${c.h}</th>`).join("") + "</tr>";
  if (table.tHead.innerHTML !== head) table.tHead.innerHTML = head;
  const body = rows.length ? rows.map(r => "<tr>" + cols.map(c => {
    const v = c.f(r);
    return `<td class="${c.t ? "t" : ""}">${v === undefined || v === null ? "" : escapeHtml(String(v))}</td>`;
  }).join("") + "</tr>").join("")
    : `<tr><td class="empty" colspan="${cols.length}">${emptyText || "none"}</td></tr>`;
  table.tBodies[0].innerHTML = body;
}
function escapeHtml(s) {
  return s.replace(/[&<>"]/g, ch => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[ch]));
}

// ---------------------------------------------------------------- streams
const LIQ_VIEW = "ticker|uPrc|years|oBid|oAsk|oBidIv|oAskIv|atmVol|sVol|sPrc|de|ve|calcSource|timestamp";

function streamUnderlier() {
  if (!socket || !state.underlier) return;
  const where = `ticker:eq:${state.underlier}-NMS-EQT`;
  state.liq.clear(); state.atm.clear(); state.dirty.add("all");
  state.liqQuery = socket.stream("LiveImpliedQuote", {where: where, view: LIQ_VIEW, activeLatency: 1000,
                                                      queryLabel: "dashboard smile"},
    (kind, t, m) => {
      if (kind === "checkpoint" && m.state === "Begin") { state.liq.clear(); }
      if (kind !== "record") return;
      if (!m.ticker || m.ticker.tk !== state.underlier) return;  // a replaced stream's last records
      state.liq.set(flatKey(m.pkey.okey), m);
      state.dirty.add("liq");
    });
  state.atmQuery = socket.stream("LiveAtmVol", {where: where, activeLatency: 1000,
                                                view: "ticker|years|atmVol|uPrc"},
    (kind, t, m) => {
      if (kind === "checkpoint" && m.state === "Begin") { state.atm.clear(); }
      if (kind !== "record") return;
      if (!m.ticker || m.ticker.tk !== state.underlier) return;
      state.atm.set(m.pkey.ekey.dt, m);
      state.dirty.add("atm");
    });
}

function keyedStream(name, map, keyFn, tag, opts) {
  socket.stream(name, Object.assign({activeLatency: 250, queryLabel: "dashboard " + tag}, opts || {}),
    (kind, t, m) => {
      if (kind === "checkpoint" && m.state === "Begin") map.clear();
      if (kind !== "record") return;
      map.set(keyFn(m), m);
      state.dirty.add(tag);
    });
}

function start(key) {
  if (socket) socket.close();
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const base = location.pathname.replace(/[^/]*$/, "");
  socket = new MLinkSocket(`${proto}//${location.host}${base}mlink/json`, key, (st, detail) => {
    const s = $("status");
    s.textContent = st === "LoggedOn" ? "live" : st + (detail ? ": " + detail : "");
    s.className = "status" + (st === "LoggedOn" ? " ok" : "");
  });
  socket.connect();
  socket.stream("TickerDefinition", {activeLatency: 5000, view: "ticker", queryLabel: "dashboard tickers"},
    (kind, t, m) => {
      if (kind !== "record") return;
      const tk = m.pkey.ticker.tk;
      if (!state.tickers.has(tk)) { state.tickers.add(tk); state.dirty.add("tickers"); }
    });
  keyedStream("SpdrParentBrkrState", state.parents, keyOf, "orders");
  keyedStream("SpdrParentExecution", state.fills, m => m.pkey.fillNumber, "fills");
  keyedStream("AuctionState", state.auctions, m => m.pkey.noticeNumber, "auctions");
  keyedStream("SymbolRiskSummaryV5", state.risk, keyOf, "risk", {activeLatency: 1000});
  streamUnderlier();
}

// ---------------------------------------------------------------- views
function renderTickers() {
  const sel = $("underlier");
  const list = [...state.tickers].sort();
  if (!state.underlier && list.length) {
    state.underlier = list.includes("SPY") ? "SPY" : list[0];
    streamUnderlier();
  }
  sel.innerHTML = list.map(t => `<option${t === state.underlier ? " selected" : ""}>${escapeHtml(t)}</option>`).join("");
}

function expiries() {
  const by = new Map();
  for (const r of state.liq.values()) {
    const dt = r.pkey.okey.dt;
    if (!by.has(dt)) by.set(dt, {dt: dt, years: r.years || 0, n: 0});
    by.get(dt).n++;
  }
  return [...by.values()].sort((a, b) => a.dt < b.dt ? -1 : 1);
}

function renderExpiries() {
  const list = expiries();
  if (!list.length) return;
  if (!list.some(e => e.dt === state.expiry)) {
    const pick = list.find(e => e.years >= 20 / 365) || list[list.length - 1];
    state.expiry = pick.dt;
  }
  const html = list.map(e => `<option value="${e.dt}"${e.dt === state.expiry ? " selected" : ""}>${e.dt} (${Math.round(e.years * 365)}d)</option>`).join("");
  if ($("expiry").innerHTML !== html) $("expiry").innerHTML = html;
}

function renderSmile() {
  const bid = [], ask = [], fit = new Map();
  let atm = null, uPrc = null;
  for (const r of state.liq.values()) {
    const k = r.pkey.okey;
    if (k.dt !== state.expiry) continue;
    const de = Math.abs(r.de || 0);
    uPrc = r.uPrc; atm = r.atmVol;
    if (de < 0.02 || de > 0.98) continue;  // far wings: no readable IV
    const label = `${flatKey(k)}  bid ${num(r.oBid)} ask ${num(r.oAsk)}`;
    if (r.oBidIv > 0.005 && r.oBidIv < 5) bid.push([k.xx, r.oBidIv, label + ` bidIV ${pct(r.oBidIv)}%`]);
    if (r.oAskIv > 0.005 && r.oAskIv < 5) ask.push([k.xx, r.oAskIv, label + ` askIV ${pct(r.oAskIv)}%`]);
    if (r.sVol > 0) fit.set(k.xx, r.sVol);
  }
  const curve = [...fit.entries()].sort((a, b) => a[0] - b[0]);
  drawChart($("smile"), [{kind: "line", cls: "fit", data: curve},
                         {kind: "points", cls: "bid", data: bid},
                         {kind: "points", cls: "ask", data: ask}],
            {xlabel: "strike", ylabel: "IV %", yscale: 100,
             empty: state.liq.size ? "no quotes with an IV for this expiry" : "waiting for LiveImpliedQuote"});
  $("smile-note").textContent = state.expiry ? `${state.underlier} ${state.expiry}` +
    (uPrc ? `, underlier ${num(uPrc)}` : "") + (atm ? `, ATM ${pct(atm)}%` : "") +
    `, ${bid.length} bid / ${ask.length} ask points` : "";
}

function renderTerm() {
  const rows = [...state.atm.values()].filter(r => r.atmVol > 0).sort((a, b) => a.years - b.years);
  const data = rows.map(r => [r.years * 365, r.atmVol, `${r.pkey.ekey.dt} ATM ${pct(r.atmVol)}%`]);
  const sel = data.filter((p, i) => rows[i].pkey.ekey.dt === state.expiry);
  drawChart($("term"), [{kind: "line", cls: "term", data: data}, {kind: "points", cls: "atm", data: data},
                        {kind: "points", cls: "atm sel", data: sel, r: 5}],
            {xlabel: "days", ylabel: "ATM vol %", yscale: 100, empty: "waiting for LiveAtmVol"});
}

const LIQ_COLS = [
  {h: "root", t: 1, f: r => r.pkey.okey.tk}, {h: "expiry", t: 1, f: r => r.pkey.okey.dt}, {h: "strike", f: r => r.pkey.okey.xx},
  {h: "c/p", t: 1, f: r => r.pkey.okey.cp}, {h: "bid", f: r => num(r.oBid)}, {h: "ask", f: r => num(r.oAsk)},
  {h: "bid IV", f: r => pct(r.oBidIv)}, {h: "ask IV", f: r => pct(r.oAskIv)}, {h: "sVol", f: r => pct(r.sVol)},
  {h: "sPrc", f: r => num(r.sPrc, 3)}, {h: "delta", f: r => num(r.de, 3)}, {h: "vega", f: r => num(r.ve, 4)},
  {h: "uPrc", f: r => num(r.uPrc)}, {h: "src", t: 1, f: r => r.calcSource}, {h: "time", t: 1, f: r => r.timestamp},
];

function liqRows() {
  const words = $("liq-filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const cp = $("liq-cp").value;
  const out = [];
  for (const [flat, r] of state.liq) {
    const k = r.pkey.okey;
    if (cp && k.cp !== cp) continue;
    const text = `${flat} ${k.dt} ${k.xx} ${k.cp}`.toLowerCase();
    if (words.every(w => text.includes(w))) out.push(r);
  }
  out.sort((a, b) => {
    const x = a.pkey.okey, y = b.pkey.okey;
    return x.dt < y.dt ? -1 : x.dt > y.dt ? 1 : x.xx - y.xx || (x.cp < y.cp ? -1 : x.cp > y.cp ? 1 : 0);
  });
  return out;
}

function renderLiq() {
  const rows = liqRows();
  const cap = +$("liq-rows").value;
  renderTable($("liq-table"), LIQ_COLS, rows.slice(0, cap), state.liq.size ? "no row matches the filter" : "waiting for LiveImpliedQuote");
  $("liq-count").textContent = `${rows.length} of ${state.liq.size} rows` + (rows.length > cap ? `, first ${cap} shown` : "");
}

function children(r) {
  const out = [];
  for (const i of [1, 2]) if (r["csz" + i]) out.push(`${r["csz" + i]} @ ${num(r["cpx" + i])} ${r["cex" + i] || ""}`.trim());
  if (r.cMore) out.push(`+${r.cMore} more`);
  return out.join("; ");
}

const PARENT_COLS = [
  {h: "parentNumber", t: 1, f: r => r.parentNumber}, {h: "account", t: 1, f: r => r.pkey.accnt},
  {h: "series", t: 1, f: r => flatKey(r.pkey.secKey)}, {h: "side", t: 1, f: r => r.pkey.orderSide},
  {h: "size", f: r => r.orderSize}, {h: "filled", f: r => r.cumFillQuantity || 0},
  {h: "leaves", f: r => r.leavesQuantity || 0}, {h: "avg px", f: r => num(r.avgFillPrice)},
  {h: "limit", f: r => num(r.limitPrice)}, {h: "broker", t: 1, f: r => r.spdrBrokerStatus},
  {h: "order", t: 1, f: r => r.spdrOrderStatus}, {h: "child orders", t: 1, f: children},
  {h: "reason", t: 1, f: r => r.spdrRejectReason || r.spdrCloseReason || ""},
  {h: "updated", t: 1, f: r => r.timestamp},
];
const FILL_COLS = [
  {h: "fillNumber", t: 1, f: r => r.pkey.fillNumber}, {h: "parentNumber", t: 1, f: r => r.parentNumber},
  {h: "series", t: 1, f: r => flatKey(r.secKey)}, {h: "side", t: 1, f: r => r.orderSide},
  {h: "qty", f: r => r.fillQuantity}, {h: "price", f: r => num(r.fillPrice)},
  {h: "exch", t: 1, f: r => r.fillExch}, {h: "role", t: 1, f: r => r.childMakerTaker},
  {h: "time", t: 1, f: r => r.fillDttm},
];
const AUCTION_COLS = [
  {h: "noticeNumber", t: 1, f: r => r.pkey.noticeNumber}, {h: "ticker", t: 1, f: r => flatKey(r.ticker)},
  {h: "type", t: 1, f: r => r.auctionType}, {h: "status", t: 1, f: r => r.atsAuctionStatus},
  {h: "side", t: 1, f: r => r.custSide}, {h: "qty", f: r => r.custQty}, {h: "price", f: r => num(r.custPrc)},
  {h: "nbbo", t: 1, f: r => `${num(r.nbboBid)} / ${num(r.nbboAsk)}`},
  {h: "bids", f: r => (r.BidSolution || []).length}, {h: "asks", f: r => (r.AskSolution || []).length},
  {h: "time", t: 1, f: r => r.timestamp},
];
const RISK_COLS = [
  {h: "ticker", t: 1, f: r => r.pkey.ticker.tk}, {h: "account", t: 1, f: r => r.pkey.accnt},
  {h: "uPrc", f: r => num(r.uPrc)}, {h: "$delta", f: r => num(r.ddelta, 0)}, {h: "vega", f: r => num(r.vega, 1)},
  {h: "gamma", f: r => num(r.gamma, 2)}, {h: "theta", f: r => num(r.theta, 1)},
  {h: "VaR +50%", f: r => num(r.VaRsu50, 0)}, {h: "VaR -50%", f: r => num(r.VaRsd50, 0)},
  {h: "VaR +15%", f: r => num(r.VaRsu15, 0)}, {h: "VaR -15%", f: r => num(r.VaRsd15, 0)},
  {h: "VaR +6%", f: r => num(r.VaRsu06, 0)}, {h: "VaR -8%", f: r => num(r.VaRsd08, 0)},
];

const byTimeDesc = (a, b) => (a.timestamp || a.fillDttm || "") < (b.timestamp || b.fillDttm || "") ? 1 : -1;

function render() {
  const d = state.dirty;
  if (!d.size) return;
  const all = d.has("all");
  if (all || d.has("tickers")) renderTickers();
  if (all || d.has("liq")) { renderExpiries(); renderSmile(); renderLiq(); }
  if (all || d.has("atm") || d.has("liq")) renderTerm();
  if (all || d.has("orders")) {
    renderTable($("parents"), PARENT_COLS, [...state.parents.values()].sort(byTimeDesc), "no orders");
    $("parents-count").textContent = `${state.parents.size}`;
  }
  if (all || d.has("fills")) {
    const rows = [...state.fills.values()].sort((a, b) => (a.fillDttm || "") < (b.fillDttm || "") ? 1 : -1);
    renderTable($("fills"), FILL_COLS, rows, "no fills");
    $("fills-count").textContent = `${state.fills.size}`;
  }
  if (all || d.has("auctions")) {
    renderTable($("auctions"), AUCTION_COLS, [...state.auctions.values()].sort(byTimeDesc), "no auctions");
    $("auctions-count").textContent = `${state.auctions.size}`;
  }
  if (all || d.has("risk")) {
    const rows = [...state.risk.values()].sort((a, b) => a.pkey.ticker.tk < b.pkey.ticker.tk ? -1 : 1);
    renderTable($("risk"), RISK_COLS, rows, "no positions");
    $("risk-count").textContent = `${state.risk.size}`;
  }
  d.clear();
}

// ---------------------------------------------------------------- wiring
$("underlier").addEventListener("change", (e) => {
  state.underlier = e.target.value; state.expiry = ""; streamUnderlier(); render();
});
$("expiry").addEventListener("change", (e) => { state.expiry = e.target.value; state.dirty.add("liq"); render(); });
for (const id of ["liq-filter", "liq-cp", "liq-rows"]) {
  $(id).addEventListener("input", () => { state.dirty.add("liq"); render(); });
}
$("keyform").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("key").value.trim();
  if (!key) return;
  localStorage.setItem("openmlink.key", key);
  start(key);
});
window.addEventListener("resize", () => { state.dirty.add("liq"); state.dirty.add("atm"); });
setInterval(render, 500);

const initialKey = params.get("apiKey") || params.get("key") || localStorage.getItem("openmlink.key");
if (initialKey) { $("key").value = initialKey; start(initialKey); }
else $("status").textContent = "enter an API key";
