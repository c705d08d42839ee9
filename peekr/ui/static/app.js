// The Peekr web UI: a small client-side router over the collector's /v1 query API.
import { api, h, navigate, setTitle } from "./util.js";
import { renderExperiments, renderTraces, renderSession, renderTrends, renderQuality, renderWorst } from "./views.js";
import { renderTrace } from "./waterfall.js";

const main = document.getElementById("main");
let session = null;
let cleanup = null;

const ROUTES = [
  [/^\/$/, "traces", () => renderTraces(main, session)],
  [/^\/traces\/([^/]+)$/, "traces", (m) => renderTrace(main, decodeURIComponent(m[1]), session)],
  [/^\/sessions\/(.+)$/, "traces", (m) => renderSession(main, decodeURIComponent(m[1]))],
  [/^\/trends$/, "trends", () => renderTrends(main, session)],
  [/^\/quality$/, "quality", () => renderQuality(main)],
  [/^\/worst$/, "worst", () => renderWorst(main)],
  [/^\/experiments$/, "experiments", () => renderExperiments(main)],
];


async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const path = location.pathname;
  if (path === "/login") return renderLogin();
  if (!session) {
    try {
      session = await api("/ui/session");
    } catch {
      return; // api() sends us to /login on 401
    }
    if (!session.authenticated) {
      session = null;
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      return;
    }
    renderHeader();
  }
  for (const [pattern, view, render] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    for (const a of document.querySelectorAll(".top nav a")) {
      if (a.dataset.view === view) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
    cleanup = (await render(match)) || null;
    return;
  }
  setTitle("Not found");
  main.replaceChildren(h("div", { class: "card empty" }, "No such page. ", h("a", { href: "/", "data-nav": true }, "Back to traces")));
}

function renderHeader() {
  document.getElementById("top").hidden = false;
  const who = document.getElementById("who");
  if (session.mode === "local") {
    who.replaceChildren(h("span", { class: "pill", title: session.file }, "local · " + session.file.split("/").pop()));
    return;
  }
  who.replaceChildren(
    h("span", { class: "tenant" }, "Tenant "),
    h("span", { class: "pill model", id: "tenant" }, session.tenant),
    h("form", { method: "post", action: "/ui/logout" }, h("button", { type: "submit", id: "logout" }, "Log out")),
  );
}

function renderLogin() {
  setTitle("Log in");
  document.getElementById("top").hidden = true;
  session = null;
  const params = new URLSearchParams(location.search);
  const messages = {
    invalid_api_key: "That key is not valid or has been revoked.",
    missing_api_key: "Enter a read key.",
    insufficient_scope: "That is an ingest key; the UI needs a key with the read scope.",
    rate_limited: "Too many failed attempts from this address; wait a little and try again.",
  };
  const error = params.get("error");
  main.replaceChildren(
    h("div", { class: "card login" },
      h("h1", {}, h("span", { class: "logo" }), " Peekr"),
      h("p", { class: "sub" }, "Log in with a read key of your tenant (", h("code", {}, "peekr server keys create --scope read"), ")."),
      error ? h("p", { class: "banner", role: "alert" }, messages[error] || "Log-in failed.") : null,
      h("form", { method: "post", action: "/ui/login" },
        h("label", { for: "key" }, "Read key",
          h("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true, placeholder: "pk_live_…", autofocus: true })),
        h("input", { type: "hidden", name: "next", value: params.get("next") || "/" }),
        h("button", { class: "primary", type: "submit", id: "login" }, "Log in"),
      ),
      h("p", { class: "hint" }, "The key is kept in an HttpOnly session cookie only; log out to forget it."),
    ),
  );
  document.getElementById("key").focus();
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/ui/") || url.pathname.startsWith("/v1/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);
route();
