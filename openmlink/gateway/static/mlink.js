// A small MLink WebSocket client (mlink-protocol.md section 3): MLinkStream requests routed by
// queryID, data records by message type, reconnect with backoff and resubscribe.
"use strict";

class MLinkSocket {
  constructor(url, key, onStatus) {
    this.url = url;
    this.key = key;
    this.onStatus = onStatus || (() => {});
    this.streams = new Map();   // queryID -> {request, handler, name}
    this.nextId = 1;
    this.ws = null;
    this.backoff = 250;
    this.closed = false;
    this.refused = false;
  }

  connect() {
    const sep = this.url.includes("?") ? "&" : "?";
    const ws = new WebSocket(this.url + sep + "apiKey=" + encodeURIComponent(this.key));
    this.ws = ws;
    this.onStatus("connecting", "");
    ws.onopen = () => {
      this.backoff = 250;
      for (const s of this.streams.values()) this._send(s.request);
    };
    ws.onmessage = (ev) => this._receive(ev.data);
    ws.onclose = () => {
      if (this.closed || this.refused) return;
      this.onStatus("reconnecting", "");
      for (const s of this.streams.values()) s.handler("disconnected", "", {});
      setTimeout(() => { if (!this.closed) this.connect(); }, this.backoff);
      this.backoff = Math.min(5000, this.backoff * 2);
    };
  }

  close() { this.closed = true; if (this.ws) this.ws.close(); }

  // Start (or replace: the server keeps one stream per message type) an MLinkStream.
  // handler(kind, mTyp, message): kind is record | checkpoint | ack | error | disconnected.
  stream(msgName, opts, handler) {
    for (const [id, s] of this.streams) {
      if (s.name === msgName.toLowerCase()) this.streams.delete(id);
    }
    const queryID = this.nextId++;
    const message = Object.assign({msgName: msgName, activeLatency: 500, queryID: queryID}, opts);
    const request = {header: {mTyp: "MLinkStream"}, message: message};
    this.streams.set(queryID, {request: request, handler: handler, name: msgName.toLowerCase()});
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this._send(request);
    return queryID;
  }

  signalReady(readyScan) {
    this._send({header: {mTyp: "MLinkSignalReady"}, message: {readyScan: readyScan || "FullScan"}});
  }

  _send(env) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(env));
  }

  _receive(data) {
    let env;
    try { env = JSON.parse(data); } catch (e) { console.error("unreadable frame", e); return; }
    const t = env.header && env.header.mTyp;
    const m = env.message || {};
    if (t === "MLinkAdmin") {
      if (m.state === "LogonFailed") { this.refused = true; this.onStatus("LogonFailed", m.detail || ""); }
      else this.onStatus(m.state || "connected", "");
      return;
    }
    if (t === "MLinkHeartbeat") return;
    if (t === "MLinkStreamAck" || t === "MLinkStreamCheckPt") {
      const s = this.streams.get(m.queryID || 0);
      if (!s) return;
      if (t === "MLinkStreamAck") {
        if (m.result !== "OK") { this.streams.delete(m.queryID); s.handler("error", t, m); }
        else s.handler("ack", t, m);
      } else s.handler("checkpoint", t, m);
      return;
    }
    if (t === "MLinkDataAck") { if (m.result !== "OK") console.warn("MLinkDataAck", m); return; }
    const low = (t || "").toLowerCase();
    for (const s of this.streams.values()) if (s.name === low) s.handler("record", t, m);
  }
}

// Flat key strings (mlink-protocol.md 2.3)
function flatKey(k) {
  if (!k || typeof k !== "object") return k == null ? "" : String(k);
  let s = `${k.tk}-${k.ts}-${k.at}`;
  if (k.dt) s += `-${k.dt}`;
  if (k.xx !== undefined) s += `-${k.xx}-${(k.cp || "?")[0]}`;
  return s;
}
