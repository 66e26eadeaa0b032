// HTML rendering (no template engine: one page, everything escaped).

export function escapeHtml(s: string): string {
    return s
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;")
        .replace(/'/g, "&#39;");
}

/** The results line must stay on one line: `<div id="results"> TEXT </div>`. */
export function oneLine(s: string): string {
    return s.replace(/\s+/g, " ").trim();
}

const STYLE = `
body { font-family: "Segoe UI", Arial, sans-serif; background: #f4f6f8; color: #222; margin: 0; }
#container { max-width: 520px; margin: 40px auto; background: #fff; padding: 24px 32px 16px;
  border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.15); text-align: center; }
h1 { font-size: 26px; color: #0078d4; margin: 0 0 20px; }
form.vote button { display: block; width: 100%; margin: 10px 0; padding: 14px; font-size: 18px;
  border: 0; border-radius: 4px; color: #fff; background: #0078d4; cursor: pointer; }
form.vote button#vote2 { background: #107c10; }
form.vote button#reset { background: #a4262c; }
form.vote + div { font-size: 20px; margin: 18px 0; font-weight: 600; }
#footer { border-top: 1px solid #ddd; margin-top: 16px; padding-top: 10px; font-size: 13px; color: #555; }
#footer form { display: inline; }
#footer button { font-size: 12px; padding: 3px 8px; margin-left: 6px; cursor: pointer; }
.flag-on { color: #a4262c; font-weight: 600; }
`;

export interface PageModel {
    title: string;
    vote1: string;
    vote2: string;
    results: string;
    showDetails: boolean;
    featureFlagEnabled: boolean;
    featureFlagOn: boolean;
    hostname: string;
    store: string;
    version: string;
}

export function renderPage(m: PageModel): string {
    const t = escapeHtml(m.title);
    const footer: string[] = [];
    if (m.showDetails) {
        footer.push(
            `<span id="details">Host: <span id="hostname">${escapeHtml(m.hostname)}</span>` +
                ` | Store: <span id="store">${escapeHtml(m.store)}</span>` +
                ` | Version: <span id="version">${escapeHtml(m.version)}</span></span>`,
        );
    }
    if (m.featureFlagEnabled) {
        const state = m.featureFlagOn ? "on" : "off";
        const action = m.featureFlagOn ? "/featureflag/clear" : "/featureflag/set";
        const label = m.featureFlagOn ? "Clear feature flag" : "Set feature flag";
        footer.push(
            `<span id="featureflag-state" class="flag-${state}">Feature flag: ${state}</span>` +
                `<form method="POST" action="${action}"><button type="submit" id="featureflag-toggle">${label}</button></form>`,
        );
    }
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t}</title>
<style>${STYLE}</style>
</head>
<body>
<div id="container">
<h1 id="title">${t}</h1>
<form class="vote" method="POST" action="/">
<button type="submit" name="vote" value="${escapeHtml(m.vote1)}" id="vote1">${escapeHtml(m.vote1)}</button>
<button type="submit" name="vote" value="${escapeHtml(m.vote2)}" id="vote2">${escapeHtml(m.vote2)}</button>
<button type="submit" name="vote" value="reset" id="reset">Reset</button>
</form>
<div id="results"> ${escapeHtml(oneLine(m.results))} </div>
<div id="footer">${footer.join(" | ")}</div>
</div>
</body>
</html>
`;
}

export function renderErrorPage(title: string, status: number, message: string): string {
    const heading = status === 503 ? "Storage unavailable" : `Error ${status}`;
    const detail =
        status === 503
            ? "The vote storage is unavailable right now (storage unavailable). Please try again in a few seconds."
            : message;
    return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)} - ${escapeHtml(heading)}</title></head>
<body>
<h1>${escapeHtml(heading)}</h1>
<p id="error">${escapeHtml(detail)}</p>
<p><a href="/">Back to the vote</a></p>
</body>
</html>
`;
}
