// The companion page. Cards arrive over a WebSocket as view models (edge/cast/render.py) and
// are built with createElement + textContent only: no innerHTML, no HTML parsing, no inline
// handlers. Links and image sources are checked again here; the server's CSP is the last wall.
"use strict";

(() => {
  const ALLOWED_TAGS = new Set([
    "p", "ul", "ol", "li", "blockquote", "table", "thead", "tbody", "tr", "th", "td",
    "strong", "em", "s", "a", "h3", "h4", "h5", "pre", "code", "hr", "br",
  ]);
  const SAFE_LINK = /^https:/i;  // the companion keeps only https links to cast.link_hosts
  const SAFE_IMAGE = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/;
  const REMOTE_IMAGE = /^https:\/\//i;
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_HISTORY = 50;
  const history = [];
  let retryMs = 500;
  let locked = false;
  // A screen on another machine opens the companion's link with #key=...; the socket passes it on.
  const viewKey = new URLSearchParams(location.hash.slice(1)).get("key") || "";

  const byId = (id) => document.getElementById(id);

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function buildNode(node, depth) {
    if (typeof node === "string") return document.createTextNode(node);
    if (!node || typeof node !== "object" || depth > 32 || !ALLOWED_TAGS.has(node.t)) {
      return document.createTextNode("");
    }
    const built = document.createElement(node.t);
    if (node.t === "a") {
      if (typeof node.href === "string" && SAFE_LINK.test(node.href)) {
        built.href = node.href;
        built.rel = "noopener noreferrer nofollow";
        built.target = "_blank";
      }
    }
    for (const child of Array.isArray(node.c) ? node.c : []) built.appendChild(buildNode(child, depth + 1));
    return built;
  }

  function buildTable(rows) {
    const table = element("table", null, "data");
    rows.forEach((row, index) => {
      const section = index === 0 ? (table.tHead || table.createTHead()) : (table.tBodies[0] || table.createTBody());
      const tr = section.insertRow();
      for (const cell of row) tr.appendChild(element(index === 0 ? "th" : "td", cell));
    });
    return table;
  }

  function buildChart(chart) {
    const values = chart.values.filter((value) => Number.isFinite(value));
    const width = 640, height = 280, bottom = 40, top = 20;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    const high = Math.max(...values.map(Math.abs), 1e-9);
    const step = width / Math.max(values.length, 1);
    const y = (value) => height - bottom - (Math.max(value, 0) / high) * (height - bottom - top);
    const points = [];
    values.forEach((value, index) => {
      const x = index * step;
      if (chart.kind === "line") {
        points.push(`${x + step / 2},${y(value)}`);
      } else {
        const bar = document.createElementNS(SVG, "rect");
        bar.setAttribute("x", String(x + step * 0.15));
        bar.setAttribute("y", String(y(value)));
        bar.setAttribute("width", String(step * 0.7));
        bar.setAttribute("height", String(height - bottom - y(value)));
        svg.appendChild(bar);
      }
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(x + step / 2));
      label.setAttribute("y", String(height - bottom + 18));
      label.setAttribute("text-anchor", "middle");
      label.textContent = String(chart.labels[index] ?? "");
      svg.appendChild(label);
      const amount = document.createElementNS(SVG, "text");
      amount.setAttribute("x", String(x + step / 2));
      amount.setAttribute("y", String(y(value) - 4));
      amount.setAttribute("text-anchor", "middle");
      amount.textContent = `${value}${chart.unit || ""}`;
      svg.appendChild(amount);
    });
    if (points.length) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", points.join(" "));
      svg.appendChild(line);
    }
    return svg;
  }

  function buildCard(card) {
    const article = element("article", null, "card");
    article.id = "card";
    article.dataset.cardId = String(card.id || "");
    article.setAttribute("aria-live", "polite");
    if (card.title) article.appendChild(element("h1", card.title, "title"));
    if (typeof card.image === "string" && (SAFE_IMAGE.test(card.image) || REMOTE_IMAGE.test(card.image))) {
      const image = element("img", null, "picture");
      image.alt = card.title || "picture";
      image.referrerPolicy = "no-referrer";
      image.src = card.image;
      article.appendChild(image);
    }
    if (Array.isArray(card.body) && card.body.length) {
      const body = element("div", null, "body");
      for (const node of card.body) body.appendChild(buildNode(node, 0));
      article.appendChild(body);
    }
    if (Array.isArray(card.table) && card.table.length) article.appendChild(buildTable(card.table));
    if (Array.isArray(card.items) && card.items.length) {
      const list = element("ul", null, "items");
      for (const item of card.items) list.appendChild(element("li", item));
      article.appendChild(list);
    }
    if (card.chart && Array.isArray(card.chart.values) && card.chart.values.length) {
      article.appendChild(buildChart(card.chart));
    }
    return article;
  }

  function show(card) {
    byId("card").replaceWith(buildCard(card));
    document.body.dataset.shown = String(card.id || "");
  }

  function remember(card) {
    history.unshift(card);
    history.length = Math.min(history.length, MAX_HISTORY);
    const list = byId("history-list");
    list.replaceChildren(...history.slice(1).map((earlier) => {
      const button = element("button", earlier.title || "(untitled)");
      const when = new Date(Number(earlier.received) * 1000);
      button.appendChild(element("time", Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString()));
      button.addEventListener("click", () => show(earlier));
      const item = element("li");
      item.appendChild(button);
      return item;
    }));
    document.body.dataset.cards = String(history.length);
  }

  function showCode(code) {
    // Pages on other machines get no code: it is on the companion's own screen and terminal.
    byId("code").textContent = code || "(shown on the companion's own screen)";
  }

  function onMessage(socket, message) {
    if (message.type === "hello") {
      byId("screen-name").textContent = message.room ? `${message.name} · ${message.room}` : message.name;
      showCode(message.code);
      for (const card of (message.history || [])) remember(card);
      if (history.length) show(history[0]);
    } else if (message.type === "card" && message.card) {
      remember(message.card);
      show(message.card);
      socket.send(JSON.stringify({ type: "ack", id: message.card.id }));
    } else if (message.type === "pairing") {
      showCode(message.code);
      if (message.paired) byId("paired-note").textContent = `Paired with ${message.paired}`;
    } else if (message.type === "locked") {
      locked = true;
      byId("status").textContent = "locked";
      byId("card").replaceWith(buildCard({ id: "", title: message.name || "edge screen", body: [String(message.text || "")] }));
    } else if (message.type === "error") {
      console.warn("companion refused a message:", message.text);
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = viewKey ? `?key=${encodeURIComponent(viewKey)}` : "";
    const socket = new WebSocket(`${scheme}//${location.host}/ws${query}`);
    const status = byId("status");
    socket.addEventListener("open", () => {
      retryMs = 500;
      status.textContent = "connected";
      status.className = "online";
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        console.warn("not JSON from the companion", error);
        return;
      }
      onMessage(socket, message);
    });
    socket.addEventListener("close", () => {
      if (locked) return;  // without its link this page will not be let in: no point retrying
      status.textContent = "reconnecting…";
      status.className = "offline";
      history.length = 0;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    });
  }

  document.addEventListener("DOMContentLoaded", connect);
})();
