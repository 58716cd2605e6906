// The associates' console: a small script over the public HTTP API, no build step.
// The key is kept in sessionStorage: it lasts for this tab only.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const session = {
    get store() { return sessionStorage.getItem("associate.store"); },
    get key() { return sessionStorage.getItem("associate.key"); },
    save(store, key) { sessionStorage.setItem("associate.store", store); sessionStorage.setItem("associate.key", key); },
    clear() { sessionStorage.removeItem("associate.store"); sessionStorage.removeItem("associate.key"); },
  };

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${session.key}`, Accept: "application/json" };
    if (options.body) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { ...options, headers });
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = { detail: text }; }
    if (!response.ok) throw new ApiError(response.status, body || {});
    return body;
  }

  // The API's own words: its title, detail and stable code.
  function showError(box, error) {
    box.hidden = false;
    if (error instanceof ApiError) {
      const p = error.problem;
      box.textContent = `${p.title || "Error"} (${error.status}${p.code ? `, ${p.code}` : ""}): ${p.detail || ""}`;
    } else {
      box.textContent = `Could not reach the service: ${error.message}`;
    }
  }
  const hide = (...boxes) => boxes.forEach((b) => { b.hidden = true; b.textContent = ""; });
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const money = (m) => new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency })
    .format(m.amount / 10 ** (new Intl.NumberFormat("en", { style: "currency", currency: m.currency }).resolvedOptions().maximumFractionDigits));
  const enc = encodeURIComponent;

  // --- sign in ---
  async function signIn(store, key) {
    session.save(store, key);
    try {
      await api(`/v1/stores/${enc(store)}/orders?limit=1`);  // checks the key and that it acts for this store
    } catch (error) {
      session.clear();
      throw error;
    }
  }
  function showConsole() {
    $("signin").hidden = true;
    $("console").hidden = false;
    $("who").textContent = `· ${session.store}`;
    $("q").focus();
  }
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    hide($("signin-error"));
    const store = $("store").value.trim();
    try {
      await signIn(store, $("key").value.trim());
      $("key").value = "";
      showConsole();
    } catch (error) { showError($("signin-error"), error); }
  });
  $("signout").addEventListener("click", () => { session.clear(); location.reload(); });

  // --- tabs ---
  document.querySelectorAll("nav.tabs button[data-tab]").forEach((button) => {
    button.addEventListener("click", () => {
      document.querySelectorAll("nav.tabs button[data-tab]").forEach((b) => {
        const selected = b === button;
        b.setAttribute("aria-selected", String(selected));
        $(`tab-${b.dataset.tab}`).hidden = !selected;
      });
      if (button.dataset.tab === "pickup") loadQueue();
    });
  });

  // --- look up ---
  function stockList(title, rows) {
    if (!rows.length) return el("p", { class: "muted" }, `${title}: none`);
    return el("div", {}, el("h4", {}, title), el("ul", {}, ...rows.map((r) => el("li", {}, r))));
  }
  async function lookup(q) {
    hide($("lookup-error"));
    const results = $("lookup-results");
    results.textContent = "";
    try {
      const found = await api(`/v1/stores/${enc(session.store)}/lookup?q=${enc(q)}`);
      if (!found.items.length) { results.append(el("p", {}, `Nothing matches “${q}”.`)); return; }
      for (const item of found.items) {
        results.append(el("article", { class: "card", "data-sku": item.sku },
          el("h3", {}, item.title),
          el("p", {}, el("strong", {}, money(item.price)), ` · SKU ${item.sku}`, item.barcode ? ` · ${item.barcode}` : ""),
          el("p", { class: "here" }, el("strong", {}, "Here: "), `${item.here.available} available`,
            ` (${item.here.on_hand} on hand, ${item.here.reserved} reserved)`),
          stockList("Nearby stores", item.nearby.map((n) => `${n.store}: ${n.available} available, ${n.distance_km.toFixed(1)} km`)),
          stockList("Warehouses", item.warehouses.map((w) => `${w.store}: ${w.available} available`)),
        ));
      }
    } catch (error) { showError($("lookup-error"), error); }
  }
  $("lookup-form").addEventListener("submit", (event) => { event.preventDefault(); lookup($("q").value.trim()); });

  // Scanning with the camera where the browser has a barcode detector; typing works everywhere.
  if ("BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia) {
    $("scan").hidden = false;
    let stream = null;
    const stop = () => { stream?.getTracks().forEach((t) => t.stop()); stream = null; $("camera").hidden = true; };
    $("scan").addEventListener("click", async () => {
      if (stream) { stop(); return; }
      try {
        const formats = await BarcodeDetector.getSupportedFormats();
        const detector = new BarcodeDetector({ formats: formats.filter((f) => ["ean_13", "ean_8", "upc_a", "upc_e", "code_128", "qr_code"].includes(f)) });
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        const video = $("camera");
        video.srcObject = stream;
        video.hidden = false;
        await video.play();
        const tick = async () => {
          if (!stream) return;
          const codes = await detector.detect(video).catch(() => []);
          if (codes.length) {
            let value = codes[0].rawValue;
            const link = value.match(/\/01\/(\d{8,14})/);  // a shelf label's GS1 Digital Link
            if (link) value = link[1];
            stop();
            $("q").value = value;
            lookup(value);
            return;
          }
          requestAnimationFrame(tick);
        };
        tick();
      } catch (error) {
        stop();
        $("scan-note").hidden = false;
        $("scan-note").textContent = `The camera is not available (${error.message}); type the code instead.`;
      }
    });
  }

  // --- pickup queue ---
  async function act(order, action) {
    hide($("pickup-error"), $("pickup-notice"));
    try {
      const updated = await api(`/v1/orders/${enc(order.id)}/${action}`, { method: "POST" });
      await loadQueue(false);
      $("pickup-notice").hidden = false;
      $("pickup-notice").textContent = `Order ${order.number} is now ${updated.status.replaceAll("_", " ")}.`;
    } catch (error) { showError($("pickup-error"), error); }
  }
  async function loadQueue(clear = true) {
    if (clear) hide($("pickup-error"), $("pickup-notice"));
    const list = $("pickup-list");
    const status = $("status").value;
    try {
      const page = await api(`/v1/stores/${enc(session.store)}/orders?limit=100${status ? `&status=${status}` : ""}`);
      list.textContent = "";
      if (!page.items.length) { list.append(el("p", {}, "No orders here.")); return; }
      for (const order of page.items) {
        const hold = order.pickup?.hold_until ? new Date(order.pickup.hold_until).toLocaleString() : "";
        // The next step for the order's status; the API has the last word (another associate, the customer
        // or the hold's expiry may have moved the order since this list was read).
        const next = { placed: ["ready", "Mark ready"], ready_for_pickup: ["collect", "Mark collected"] }[order.status];
        list.append(el("article", { class: "card", "data-order": order.id },
          el("h3", {}, `Order ${order.number}`),
          el("p", {}, `Status: ${order.status.replaceAll("_", " ")}`, hold ? ` · hold until ${hold}` : ""),
          el("ul", {}, ...order.lines.map((l) => el("li", {}, `${l.quantity} × ${l.title ?? l.sku} (${l.sku})`))),
          next ? el("div", { class: "actions" }, el("button", { type: "button", onclick: () => act(order, next[0]) }, next[1])) : "",
        ));
      }
    } catch (error) { showError($("pickup-error"), error); }
  }
  $("pickup-form").addEventListener("submit", (event) => { event.preventDefault(); loadQueue(); });

  // --- the customer at the counter: found by loyalty id or phone; their recent orders, every channel ---
  $("customer-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    hide($("customer-error"));
    const out = $("customer-result");
    out.textContent = "";
    try {
      const found = await api(`/v1/customers?${$("by").value}=${enc($("who-value").value.trim())}`);
      const customers = found.items ?? found;
      if (!customers.length) { out.append(el("p", {}, "No customer with that identifier.")); return; }
      const customer = customers[0];
      const history = await api(`/v1/customers/${enc(customer.id)}/orders?limit=10`);
      out.append(el("article", { class: "card" },
        el("h3", {}, customer.loyalty_id ? `Loyalty ${customer.loyalty_id}` : "Customer"),
        el("h4", {}, "Recent orders"),
        history.items.length
          ? el("ul", {}, ...history.items.map((o) => el("li", {},
            [new Date(o.at).toLocaleDateString(), o.channel, o.store, o.status.replaceAll("_", " "), o.total ? money(o.total) : null]
              .filter(Boolean).join(" · "),
            el("br"), o.lines.map((l) => `${l.quantity} × ${l.sku}`).join(", "))))
          : el("p", {}, "No orders yet.")));
    } catch (error) { showError($("customer-error"), error); }
  });

  if (session.key && session.store) showConsole();
})();
