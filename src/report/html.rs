//! HTML: `index.html`, one self-contained page (no network, no framework): the selected
//! configuration of each agent, the per-MDP tables (mean and 95% CI, best marked), every plot
//! as inline SVG, the completeness notes and the provenance of the runs. A few lines of plain
//! JavaScript sort a table by a clicked column and record script errors in the page itself
//! (`#script-errors`), so a browser test can read them from the DOM.

use std::fmt::Write;

use super::{Cell, Exporter, OutDir, Report, ReportError, cell_notes, esc, mean_ci, num};
use crate::analysis::Stat;
use crate::value::Value;

/// Writes `index.html`.
pub struct Html {
    /// Draw the plots inline.
    pub plots: bool,
}

impl Exporter for Html {
    fn name(&self) -> &'static str {
        "html"
    }

    fn export(&self, report: &Report, out: &mut OutDir) -> Result<(), ReportError> {
        let page = page(report, self.plots)?;
        out.write("index.html", page.as_bytes())
    }
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1100px;padding:1.2em 1.5em 3em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.92em}
th,td{border-bottom:1px solid #e3e3e3;padding:.35em .7em;text-align:left;vertical-align:top}
th{background:#f5f5f7;cursor:pointer;user-select:none;white-space:nowrap}
th[data-dir=asc]::after{content:" \25B2";font-size:.7em}th[data-dir=desc]::after{content:" \25BC";font-size:.7em}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{font-weight:700;background:#e8f4ea}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.88em;background:#f3f3f3;padding:0 .25em;border-radius:3px}
.note{color:#8a4b00}.ok{color:#1f6f2b}
figure{margin:1.2em 0;border:1px solid #e3e3e3;border-radius:6px;padding:.5em}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
#script-errors:empty{display:none}#script-errors{color:#b00;white-space:pre-wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
"#;

/// Records script errors into the page first, so a failing script below is visible in the DOM.
const ERROR_HOOK: &str = r#"<script>window.addEventListener("error",function(e){var p=document.getElementById("script-errors");if(p){p.textContent+=String(e.message)+"\n";}});</script>"#;

const SORT_SCRIPT: &str = r#"<script>
(function(){
function key(td){var v=td.getAttribute("data-v");if(v!==null&&v!==""){return parseFloat(v);}return td.textContent.trim().toLowerCase();}
document.querySelectorAll("table.sortable th").forEach(function(th,i){
th.title="sort by this column";
th.addEventListener("click",function(){
var table=th.closest("table"),body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
var dir=th.getAttribute("data-dir")==="asc"?"desc":"asc";
table.querySelectorAll("th").forEach(function(h){h.removeAttribute("data-dir");});
th.setAttribute("data-dir",dir);
rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
var nx=typeof x==="number"&&!isNaN(x),ny=typeof y==="number"&&!isNaN(y);
if(nx!==ny){return nx?-1:1;}var c=x<y?-1:x>y?1:0;return dir==="asc"?c:-c;});
rows.forEach(function(r){body.appendChild(r);});
});});
document.documentElement.setAttribute("data-ready","1");
})();
</script>"#;

fn stat_cell(c: &Cell, stat: &Stat, best: bool) -> String {
    if c.expected == 0 && c.runs == 0 {
        return "<td class=\"num\" data-v=\"\">–</td>".into();
    }
    let mut text = esc(&mean_ci(stat, " ± "));
    if best {
        text = format!("★ {text}");
    }
    let notes = cell_notes(c);
    if !notes.is_empty() {
        let _ = write!(
            text,
            " <span class=\"note\">({})</span>",
            esc(&notes.join(", "))
        );
    }
    let v = stat.mean.map_or(String::new(), |m| m.to_string());
    let class = if best { "num best" } else { "num" };
    format!("<td class=\"{class}\" data-v=\"{v}\">{text}</td>")
}

fn measure_table(
    report: &Report,
    id: &str,
    title: &str,
    stat: impl Fn(&Cell) -> &Stat,
    best: impl Fn(&Cell) -> bool,
) -> String {
    let mut s = format!(
        "<h2 id=\"{id}\">{} ({})</h2>\n<p>Mean ± 95% CI over seeds; ★ and green: the lowest mean on the MDP. Click a column to sort.</p>\n",
        esc(title),
        esc(&report.at)
    );
    let _ = write!(
        s,
        "<table class=\"sortable results\" id=\"table-{id}\"><thead><tr><th>MDP</th>"
    );
    for a in &report.agents {
        let _ = write!(s, "<th>{}</th>", esc(&a.label));
    }
    s.push_str("</tr></thead><tbody>\n");
    for (m, mdp) in report.mdps.iter().enumerate() {
        let _ = write!(s, "<tr><td><code>{}</code></td>", esc(&mdp.label));
        for c in &report.cells[m] {
            s.push_str(&stat_cell(c, stat(c), best(c)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s
}

fn agents_table(report: &Report) -> String {
    let mut s = String::from("<h2 id=\"agents\">Chosen configurations</h2>\n");
    let _ = writeln!(
        s,
        "<p>Each agent is shown with one configuration: the lowest mean <code>{}</code> at {} over MDPs and seeds.</p>",
        esc(&report.measure),
        esc(&report.at)
    );
    s.push_str("<table class=\"sortable\" id=\"table-agents\"><thead><tr><th>agent</th><th>parameters</th><th>configuration id</th><th>compared</th>");
    let _ = writeln!(
        s,
        "<th>mean {}</th></tr></thead><tbody>",
        esc(&report.measure)
    );
    for a in &report.agents {
        let mut label = esc(&a.label);
        if !a.winner {
            label.push_str(" <span class=\"note\">(no complete configuration)</span>");
        } else if !a.complete {
            label.push_str(" <span class=\"note\">(incomplete)</span>");
        }
        let params = if a.params.is_empty() {
            "defaults".to_string()
        } else {
            format!(
                "<code>{}</code>",
                esc(&Value::Table(a.params.clone()).to_string())
            )
        };
        let _ = writeln!(
            s,
            "<tr><td>{label}</td><td>{params}</td><td><code>{}</code></td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td></tr>",
            esc(&a.config_id),
            a.configs_compared,
            a.configs_compared,
            a.selection_mean.map_or(String::new(), |m| m.to_string()),
            a.selection_mean.map_or("n/a".into(), num)
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The completeness notes: missing, failed, unfinished, unreadable and stale runs.
fn completeness(report: &Report) -> String {
    let mut notes = Vec::new();
    for (m, row) in report.cells.iter().enumerate() {
        for (a, c) in row.iter().enumerate() {
            if c.missing > 0 || c.failed > 0 || c.runs < c.expected {
                notes.push(format!(
                    "<code>{}</code> on <code>{}</code>: {} of {} runs valid, {} failed, {} missing",
                    esc(&report.agents[a].label),
                    esc(&report.mdps[m].label),
                    c.runs,
                    c.expected,
                    c.failed,
                    c.missing
                ));
            }
        }
    }
    let counts = [
        (
            report.unfinished,
            "log(s) with no status file (unfinished runs)",
        ),
        (report.unreadable, "status file(s) that could not be read"),
        (
            report.curve_problems,
            "log(s) whose curve could not be read",
        ),
    ];
    for (n, what) in counts {
        if n > 0 {
            notes.push(format!("{n} {what}"));
        }
    }
    if let Some(p) = &report.programs
        && !p.is_complete()
    {
        notes.push("some program runs are missing or failed (see the programs section)".into());
    }
    let mut s = String::from("<h2 id=\"completeness\">Completeness</h2>\n");
    if notes.is_empty() {
        s.push_str("<p class=\"ok\" id=\"complete\">Every expected run is there and valid.</p>\n");
    } else {
        s.push_str("<ul id=\"incomplete\">\n");
        for n in notes {
            let _ = writeln!(s, "<li class=\"note\">{n}</li>");
        }
        s.push_str("</ul>\n");
    }
    if report.stale > 0 {
        let _ = writeln!(
            s,
            "<p>{} result(s) of instances no longer in their folder's current plan were left out (<code>--include-stale</code> uses them).</p>",
            report.stale
        );
    }
    s
}

fn counted(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, n)| {
            format!(
                "<code>{}</code> ({n} run{})",
                esc(k),
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn provenance(report: &Report) -> String {
    let p = &report.provenance;
    let mut s = String::from("<h2 id=\"provenance\">Provenance</h2>\n<dl>\n");
    for (path, name, hash, planned) in &p.specs {
        let _ = writeln!(
            s,
            "<dt>spec</dt><dd><code>{}</code>, hash <code>{}</code>, planned {} (folder <code>{}</code>)</dd>",
            esc(name),
            esc(hash),
            esc(planned),
            esc(&path.display().to_string())
        );
    }
    let read: Vec<String> = report
        .paths
        .iter()
        .map(|p| format!("<code>{}</code>", esc(&p.display().to_string())))
        .collect();
    let _ = writeln!(s, "<dt>read from</dt><dd>{}</dd>", read.join(", "));
    let _ = writeln!(s, "<dt>ludus</dt><dd>{}</dd>", counted(&p.versions));
    let _ = writeln!(s, "<dt>hosts</dt><dd>{}</dd>", counted(&p.hosts));
    if let (Some(a), Some(b)) = (&p.first_finished, &p.last_finished) {
        let _ = writeln!(s, "<dt>runs ended</dt><dd>{} to {}</dd>", esc(a), esc(b));
    }
    let _ = writeln!(
        s,
        "<dt>report</dt><dd>written by ludus {}</dd>\n</dl>",
        env!("CARGO_PKG_VERSION")
    );
    s
}

fn figure(id: &str, class: &str, svg: &str, caption: &str) -> String {
    // plotters writes fixed width and height: the viewBox alone lets the page scale it.
    let svg = svg.replacen(" width=\"900\" height=\"560\"", "", 1);
    format!(
        "<figure class=\"{class}\" id=\"{}\">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>\n",
        esc(id)
    )
}

/// The whole page.
pub fn page(report: &Report, plots: bool) -> Result<String, ReportError> {
    let mut s =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(s, "<title>{}</title>", esc(&report.title));
    let _ = writeln!(s, "<style>{STYLE}</style>\n{ERROR_HOOK}\n</head>\n<body>");
    let _ = writeln!(s, "<h1>{}</h1>", esc(&report.title));
    s.push_str("<pre id=\"script-errors\"></pre>\n");
    if !report.agents.is_empty() {
        let _ = writeln!(
            s,
            "<p class=\"sub\">{} agent(s) on {} MDP(s). <a href=\"#agents\">configurations</a> · <a href=\"#regret\">cumulative regret</a> · <a href=\"#normalized\">normalized</a> · <a href=\"#plots\">plots</a> · <a href=\"#completeness\">completeness</a> · <a href=\"#provenance\">provenance</a></p>",
            report.agents.len(),
            report.mdps.len()
        );
        s.push_str(&agents_table(report));
        s.push_str(&measure_table(
            report,
            "regret",
            "Cumulative regret",
            |c| &c.regret,
            |c| c.best_regret,
        ));
        s.push_str(&measure_table(
            report,
            "normalized",
            "Normalized cumulative regret",
            |c| &c.normalized,
            |c| c.best_normalized,
        ));
        if plots {
            s.push_str("<h2 id=\"plots\">Plots</h2>\n<p>Lines: mean over seeds; shaded bands: 95% CI over seeds.</p>\n");
            for m in 0..report.mdps.len() {
                if !report.curves[m].iter().any(Option::is_some) {
                    continue;
                }
                let svg = super::plots::regret_svg(report, m)?;
                s.push_str(&figure(
                    &format!("plot-{}", report.mdps[m].slug),
                    "mdp",
                    &svg,
                    &format!(
                        "Cumulative regret on <code>{}</code>.",
                        esc(&report.mdps[m].label)
                    ),
                ));
            }
            let svg = super::plots::summary_svg(report)?;
            s.push_str(&figure(
                "plot-summary",
                "summary",
                &svg,
                "Average normalized cumulative regret of each agent over all its runs (95% CI).",
            ));
        }
    }
    if let Some(p) = &report.programs {
        s.push_str(&super::programs::html_section(p)?);
    }
    s.push_str(&completeness(report));
    s.push_str(&provenance(report));
    s.push_str(SORT_SCRIPT);
    s.push_str("\n</body>\n</html>\n");
    Ok(s)
}
