"""A page to browse every attempt of one run, or of two runs side by side (``weightwarden eval view``).

    html = render_viewer([read_log("run.jsonl")])              # one run
    html = render_viewer([read_log("base.jsonl"), read_log("tuned.jsonl")])   # side by side
    serve_viewer(html, port=0)                                  # http://127.0.0.1:<port>/ until Ctrl-C

The page is one self-contained HTML file: no network access, no external script, style or font. Model
text is hostile input, so it never becomes markup:

* the attempts travel as JSON inside ``<script type="application/json">``, with ``<``, ``>`` and ``&``
  written as ``\\u003c`` / ``\\u003e`` / ``\\u0026`` so no answer can close the script element;
* the page's own script puts every string into the DOM with ``textContent`` — never ``innerHTML``;
* a Content-Security-Policy allows only the page's own inline script (by its SHA-256) and style, and no
  images, frames, fonts or connections, so even a mistake in escaping could not load or send anything.

Every string is first passed through :func:`weightwarden.core.text.printable`, line by line (control and
invisible characters shown visibly, line breaks kept), and cut at :data:`MAX_TEXT` characters with a marker.

Filters: suite, category, transform, verdict (any detector's label) and free text; each attempt shows the
request as sent, the request as meant (the untransformed one, for jailbreak transforms), the answer, the
decoded answer where decoding applied, and every detector's label, success and evidence.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Sequence
from typing import Any

from weightwarden.core.text import printable
from weightwarden.evals.log import AttemptRecord, EvalLog

MAX_TEXT = 20_000
VIEWER_SCHEMA = "weightwarden.eval-viewer/v1"


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    """Sanitised for display; line breaks are kept (they are layout in an answer, not an attack)."""
    text = "" if value is None else str(value)
    cut = len(text) > limit
    lines = [printable(line) for line in text[:limit].replace("\r\n", "\n").split("\n")]
    return "\n".join(lines) + (" …[cut]" if cut else "")


def _last_user(record: AttemptRecord) -> str:
    for message in reversed(record.messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _attempt(record: AttemptRecord) -> dict[str, Any]:
    detectors = []
    meant = ""
    decoded = ""
    for d in record.detectors:
        details = d.get("details") or {}
        if isinstance(details, dict):
            meant = meant or str(details.get("request") or "")
            decoded = decoded or str(details.get("decoded_answer") or "")
            reason = details.get("reason") or details.get("decided_by") or ""
        else:
            reason = ""
        detectors.append({"name": _text(d.get("detector"), 100), "label": _text(d.get("label"), 100),
                          "success": d.get("success") if isinstance(d.get("success"), bool) else None,
                          "evidence": _text(d.get("evidence"), 2000), "reason": _text(reason, 200),
                          "error": _text(d.get("error"), 2000) if d.get("error") else ""})
    sent = _last_user(record)
    return {
        "key": _text(f"{record.suite_id}\x00{record.item_id}", 600),
        "suite": _text(record.suite_id, 200), "item": _text(record.item_id, 300),
        "category": _text(record.category, 200), "transform": _text(record.transform, 100),
        "family": _text(record.family, 50), "request": _text(sent),
        "meant": _text(meant) if meant and meant != sent else "",
        "answer": _text(record.response) if record.response is not None else "",
        "decoded": _text(decoded) if decoded else "",
        "error": _text(record.error, 2000) if record.error else "", "truncated": bool(record.truncated),
        "detectors": detectors,
    }


def viewer_data(logs: Sequence[EvalLog]) -> dict[str, Any]:
    """What the page shows, as plain JSON (also useful to test the page's content without a browser)."""
    runs = []
    for log in logs:
        model = log.header.model
        runs.append({"model": _text(model.get("model"), 300), "kind": _text(model.get("kind"), 50),
                     "path": _text(log.path, 500), "started_at": _text(log.header.started_at, 50),
                     "attempts": [_attempt(r) for r in log.latest().values()]})
    return {"schema": VIEWER_SCHEMA, "runs": runs}


def _json_for_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{padding:12px 16px;background:#1f2a44;color:#fff}header h1{margin:0;font-size:18px}
#filters{display:flex;flex-wrap:wrap;gap:8px;padding:10px 16px;background:#eef1f6;position:sticky;top:0}
#filters label{display:flex;flex-direction:column;font-size:12px}
#count{padding:6px 16px;font-size:12px;color:#444}
.attempt{margin:8px 16px;padding:10px;background:#fff;border:1px solid #ddd;border-radius:6px}
.meta{font-size:12px;color:#555;margin-bottom:6px}.cols{display:grid;gap:10px}
.cols.two{grid-template-columns:1fr 1fr}.run h3{margin:4px 0;font-size:13px}
pre{white-space:pre-wrap;word-break:break-word;background:#f4f4f4;padding:6px;margin:4px 0;max-height:22em;overflow:auto}
.det{font-size:12px;margin:2px 0}.bad{color:#a40000;font-weight:600}.ok{color:#1d6b1d}.und{color:#7a5a00}
.k{font-weight:600;font-size:12px;margin-top:6px}
"""

_SCRIPT = """
(function(){
const data=JSON.parse(document.getElementById('ww-data').textContent);
const runs=data.runs;const two=runs.length>1;
function el(tag,cls,text){const e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined)e.textContent=text;return e;}
const byKey=new Map();
runs.forEach((run,ri)=>run.attempts.forEach(a=>{if(!byKey.has(a.key))byKey.set(a.key,[]);byKey.get(a.key)[ri]=a;}));
const rows=Array.from(byKey.values());
function values(field){const s=new Set();rows.forEach(r=>r.forEach(a=>{if(a)s.add(a[field]);}));return Array.from(s).sort();}
function labels(){const s=new Set();rows.forEach(r=>r.forEach(a=>{if(a)a.detectors.forEach(d=>s.add(d.name+': '+d.label));}));return Array.from(s).sort();}
const filters=document.getElementById('filters');
function select(id,name,opts){const l=el('label',null,name);const s=el('select');s.id=id;s.appendChild(el('option',null,'(all)'));
 opts.forEach(o=>{const op=el('option',null,o);op.value=o;s.appendChild(op);});s.addEventListener('change',render);l.appendChild(s);filters.appendChild(l);return s;}
const fSuite=select('f-suite','suite',values('suite'));const fCat=select('f-category','category',values('category'));
const fTr=select('f-transform','transform',values('transform'));const fVer=select('f-verdict','verdict',labels());
const tl=el('label',null,'text');const fText=el('input');fText.id='f-text';fText.type='search';fText.addEventListener('input',render);tl.appendChild(fText);filters.appendChild(tl);
function pick(s){return s.value==='(all)'?null:s.value;}
function block(parent,title,text){if(!text)return;parent.appendChild(el('div','k',title));parent.appendChild(el('pre',null,text));}
function attemptView(a,run){const d=el('div','run');
 if(two)d.appendChild(el('h3',null,run.model));
 if(!a){d.appendChild(el('div','und','not in this run'));return d;}
 if(a.error)d.appendChild(el('div','bad','error: '+a.error));
 block(d,'answer'+(a.truncated?' (cut off at max_tokens)':''),a.answer);block(d,'decoded answer',a.decoded);
 d.appendChild(el('div','k','detectors'));
 a.detectors.forEach(x=>{const cls=x.success===true?'bad':(x.success===false?'ok':'und');
  const line=el('div','det '+cls,x.name+': '+x.label+' (success: '+(x.success===null?'undecided':x.success)+')'+(x.reason?' ['+x.reason+']':'')+(x.evidence?' — '+x.evidence:'')+(x.error?' — error: '+x.error:''));
  line.dataset.detector=x.name;d.appendChild(line);});
 return d;}
function matches(r){const a=r.find(x=>x);const s=pick(fSuite),c=pick(fCat),t=pick(fTr),v=pick(fVer),q=fText.value.toLowerCase();
 if(s&&!r.some(x=>x&&x.suite===s))return false;if(c&&!r.some(x=>x&&x.category===c))return false;
 if(t&&!r.some(x=>x&&x.transform===t))return false;
 if(v&&!r.some(x=>x&&x.detectors.some(d=>d.name+': '+d.label===v)))return false;
 if(q&&!r.some(x=>x&&(x.request+' '+x.meant+' '+x.answer+' '+x.decoded).toLowerCase().includes(q)))return false;
 return !!a;}
const list=document.getElementById('attempts');const count=document.getElementById('count');
function render(){list.replaceChildren();let n=0;
 rows.forEach(r=>{if(!matches(r))return;n++;const a=r.find(x=>x);const box=el('div','attempt');box.dataset.suite=a.suite;box.dataset.item=a.item;
  box.appendChild(el('div','meta',a.suite+' · '+a.item+' · category '+a.category+' · transform '+a.transform));
  block(box,'request (as sent)',a.request);block(box,'request (as meant, untransformed)',a.meant);
  const cols=el('div','cols'+(two?' two':''));runs.forEach((run,i)=>cols.appendChild(attemptView(r[i],run)));box.appendChild(cols);list.appendChild(box);});
 count.textContent=n+' of '+rows.length+' attempts';}
render();
})();
"""


def render_viewer(logs: Sequence[EvalLog]) -> str:
    """The self-contained viewer page for one or two run logs."""
    if not 1 <= len(logs) <= 2:
        raise ValueError("the viewer shows one run, or two side by side")
    data = viewer_data(logs)
    script_hash = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; script-src 'sha256-{script_hash}'; style-src 'unsafe-inline'; img-src 'none'; "
           "connect-src 'none'; font-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'")
    title = " vs ".join(run["model"] for run in data["runs"])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{html.escape(csp)}\">"
        f"<title>weightwarden eval view: {html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>weightwarden eval view: {html.escape(title)}</h1></header>"
        "<div id=\"filters\"></div><div id=\"count\"></div><main id=\"attempts\"></main>"
        f"<script type=\"application/json\" id=\"ww-data\">{_json_for_script(data)}</script>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def serve_viewer(page: str, *, port: int = 0, ready: Any = None) -> None:
    """Serve ``page`` at http://127.0.0.1:<port>/ (loopback only) until interrupted. ``ready(url)`` is
    called once the socket listens (the CLI prints the URL)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = page.encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            # DNS rebinding: a web page the user visits could point its own name at 127.0.0.1 and read this
            # page (model answers, prompts) from its origin. Only requests naming the loopback host pass.
            port = self.server.server_address[1]
            if self.headers.get("Host", "") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                self.send_error(403, "wrong Host header")
                return
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: no request log
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    try:
        if ready is not None:
            ready(f"http://127.0.0.1:{server.server_address[1]}/")
        server.serve_forever()
    finally:
        server.server_close()
