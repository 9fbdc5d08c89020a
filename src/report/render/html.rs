//! The standalone HTML report: the same content as the Markdown report, as tables, with inline
//! SVG plots (the paper's Figure 4, this run's Figure 4 analogue, relative gain per task per agent).

use std::fmt::Write as _;

/// A curve point's position on an x axis.
type XOf = fn(&crate::results::CurvePoint) -> f64;

use super::markdown::fidelity_text;
use super::{RenderError, ReportInput, fmt_gain, paper_header, side_rows};
use crate::paper::{Agent, Level, PaperModel, RlMethod, Split};
use crate::plot::{Hline, Line, curve_chart, grouped_bars};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn agent_colour(a: Agent) -> usize {
    Agent::ALL
        .iter()
        .position(|b| *b == a)
        .expect("agent in ALL")
}

/// Renders the standalone HTML page.
pub fn html(input: &ReportInput) -> Result<String, RenderError> {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    );
    let _ = writeln!(w, "<title>{}</title>", esc(input.title));
    let _ = writeln!(
        w,
        "<style>body{{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em}}table{{border-collapse:collapse;font-size:12px;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td.l,th.l{{text-align:left}}.best{{font-weight:bold}}.sep{{border-left:3px solid #444}}.reproduced{{color:#060}}.not-reproduced{{color:#a00}}.inconclusive{{color:#a60}}code{{font-size:11px}}figure{{display:inline-block;margin:0.5em}}</style>\n</head>\n<body>"
    );
    let _ = writeln!(w, "<h1>{}</h1>", esc(input.title));
    let p = &input.table.provenance;
    let _ = writeln!(
        w,
        "<p>Paper: {} (arXiv {} {}). Table 1 from <code>{}</code> at {} commit <code>{}</code> (sha256 <code>{}</code>), {}. Figure 4 from <code>{}</code> (sha256 <code>{}</code>), {}.</p>",
        esc(&p.paper),
        esc(&p.arxiv_id),
        esc(&p.arxiv_version),
        esc(&p.image),
        esc(&p.repository),
        esc(&p.commit),
        p.image_sha256,
        esc(&fidelity_text(p.fidelity)),
        esc(&input.figure.provenance.image),
        input.figure.provenance.image_sha256,
        esc(&fidelity_text(input.figure.provenance.fidelity)),
    );

    // ---- Table 1
    let (rows, agents) = side_rows(input);
    let _ = writeln!(w, "<h2>Table 1: the paper beside this run</h2>");
    let _ = writeln!(
        w,
        "<p>Paper columns: the paper's agents; run columns: this code's agents on the stand-in tasks. Only orderings are comparable. Bold: best of each group.</p>"
    );
    let _ = write!(
        w,
        "<table>\n<tr><th class=\"l\">task</th><th class=\"l\">split</th><th class=\"l\">metric</th><th class=\"l\">level</th>"
    );
    for (i, m) in PaperModel::ALL.iter().enumerate() {
        let cls = if i == 0 { " class=\"sep\"" } else { "" };
        let _ = write!(w, "<th{cls}>{}</th>", paper_header(*m));
    }
    let _ = write!(w, "<th class=\"sep\">starter</th>");
    for a in &agents {
        let _ = write!(w, "<th>{a}</th>");
    }
    let _ = writeln!(w, "</tr>");
    for r in &rows {
        let arrow = if r.row.direction == crate::paper::Direction::HigherIsBetter {
            "↑"
        } else {
            "↓"
        };
        let _ = write!(
            w,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{} {arrow}</td><td class=\"l\">{}</td>",
            r.task,
            r.task.split().label(),
            esc(&r.row.metric),
            r.level.label()
        );
        for (i, c) in r.paper.iter().enumerate() {
            let mut cls = Vec::new();
            if i == 0 {
                cls.push("sep");
            }
            if i == r.paper_best {
                cls.push("best");
            }
            let _ = write!(w, "<td class=\"{}\">{c}</td>", cls.join(" "));
        }
        let _ = write!(
            w,
            "<td class=\"sep\">{}</td>",
            r.starter.as_deref().unwrap_or("–")
        );
        for (i, c) in r.ours.iter().enumerate() {
            let cls = if r.ours_best == Some(i) { "best" } else { "" };
            let _ = write!(
                w,
                "<td class=\"{cls}\">{}</td>",
                c.as_deref().unwrap_or("–")
            );
        }
        let _ = writeln!(w, "</tr>");
    }
    let _ = writeln!(w, "</table>");

    // ---- plots: the paper's Figure 4
    let _ = writeln!(
        w,
        "<h2>Figure 4</h2>\n<p>The paper's curves (digitised, ±{} pp) and this run's analogue (compute in environment work units).</p>",
        input.figure.tolerance()
    );
    for split in Split::ALL {
        let lines: Vec<Line> = [RlMethod::StepWise, RlMethod::EpisodeWise]
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let s = input.figure.series(split, *m)?;
                Some(Line {
                    label: m.label().to_string(),
                    colour: if i == 0 {
                        agent_colour(Agent::MlAgent)
                    } else {
                        agent_colour(Agent::MlAgentEpisode)
                    },
                    points: s
                        .points
                        .iter()
                        .map(|p| (p.gpu_hours, p.gain_percent))
                        .collect(),
                })
            })
            .collect();
        let hlines: Vec<Hline> = input
            .figure
            .baselines
            .iter()
            .filter(|b| b.panel == split)
            .map(|b| Hline {
                label: paper_header(b.model).to_string(),
                colour: 6 + PaperModel::ALL
                    .iter()
                    .position(|m| *m == b.model)
                    .unwrap_or(0)
                    % 2,
                y: b.gain_percent,
            })
            .collect();
        let svg = curve_chart(
            &format!("Paper, {} tasks", split.label()),
            "GPU hours",
            "avg relative gain (%)",
            &lines,
            &hlines,
        )?;
        let _ = writeln!(w, "<figure>{svg}</figure>");
    }
    if let Some(curves) = input.curves {
        // Against both charges: the policy tokens (the paper's GPU hours are mostly the
        // policy's) and the environment's work units.
        let axes: [(&str, XOf); 2] = [
            ("RL policy tokens (forward-equivalents)", |p| {
                p.policy_tokens as f64
            }),
            ("RL work units", |p| p.work_units as f64),
        ];
        for (x_label, x_of) in axes {
            for split in Split::ALL {
                let lines: Vec<Line> = curves
                    .curves
                    .iter()
                    .map(|c| Line {
                        label: c.method.label().to_string(),
                        colour: match c.method {
                            RlMethod::StepWise => agent_colour(Agent::MlAgent),
                            RlMethod::EpisodeWise => agent_colour(Agent::MlAgentEpisode),
                        },
                        points: c
                            .points
                            .iter()
                            .filter_map(|p| Some((x_of(p), p.avg_gain(split)?)))
                            .collect(),
                    })
                    .collect();
                let hlines: Vec<Hline> = input
                    .results
                    .map(|r| {
                        [
                            Agent::Random,
                            Agent::NonEnrichedExpert,
                            Agent::Expert,
                            Agent::Sft,
                        ]
                        .iter()
                        .filter_map(|a| {
                            Some(Hline {
                                label: a.to_string(),
                                colour: agent_colour(*a),
                                y: r.avg_gain(*a, split, Level::Avg)?,
                            })
                        })
                        .collect()
                    })
                    .unwrap_or_default();
                let svg = curve_chart(
                    &format!("This run, {} tasks", split.label()),
                    x_label,
                    "avg relative gain (%)",
                    &lines,
                    &hlines,
                )?;
                let _ = writeln!(w, "<figure>{svg}</figure>");
            }
        }
    }

    // ---- relative gains
    if let Some(res) = input.results {
        let _ = writeln!(
            w,
            "<h2>Relative gain over the starter script (Avg level)</h2>"
        );
        let _ = writeln!(
            w,
            "<p>sign · (score − starter) / |starter| · 100; positive = improvement in the metric's direction.</p>"
        );
        let cats: Vec<String> = res.tasks.iter().map(|t| t.task.to_string()).collect();
        let series: Vec<(String, usize)> = agents
            .iter()
            .map(|a| (a.to_string(), agent_colour(*a)))
            .collect();
        let values: Vec<Vec<Option<f64>>> = res
            .tasks
            .iter()
            .map(|t| agents.iter().map(|a| t.gain(*a, Level::Avg)).collect())
            .collect();
        let svg = grouped_bars(
            "Relative gain per task",
            "relative gain (%)",
            &cats,
            &series,
            &values,
        )?;
        let _ = writeln!(w, "<figure>{svg}</figure>");
        let _ = write!(w, "<table>\n<tr><th class=\"l\">task</th>");
        for a in &agents {
            let _ = write!(w, "<th>{a}</th>");
        }
        let _ = writeln!(w, "</tr>");
        for (t, row) in res.tasks.iter().zip(&values) {
            let _ = write!(w, "<tr><td class=\"l\">{}</td>", t.task);
            for g in row {
                let _ = write!(w, "<td>{}</td>", fmt_gain(*g));
            }
            let _ = writeln!(w, "</tr>");
        }
        let _ = writeln!(w, "</table>");
    }

    // ---- claims
    let _ = writeln!(w, "<h2>Claims</h2>");
    for c in input.claims {
        let _ = writeln!(
            w,
            "<h3>{}</h3>\n<p>{} <i>({})</i></p>\n<ul>",
            esc(&c.id),
            esc(&c.statement),
            esc(&c.source)
        );
        let _ = writeln!(
            w,
            "<li>On the paper's numbers: <b>{}</b>: {}</li>",
            if c.paper.holds {
                "holds"
            } else {
                "does not hold"
            },
            esc(&c.paper.detail)
        );
        match &c.reproduction {
            Some(r) => {
                let cls = r.verdict.label().replace(' ', "-");
                let _ = writeln!(
                    w,
                    "<li>On this run: <b class=\"{cls}\">{}</b>: {}</li>\n<li>Statistic: {}</li>",
                    r.verdict.label(),
                    esc(&r.detail),
                    esc(&r.statistic)
                );
            }
            None => {
                let _ = writeln!(w, "<li>On this run: not evaluated (no results)</li>");
            }
        }
        let _ = writeln!(w, "</ul>");
    }

    // ---- digests
    let _ = writeln!(
        w,
        "<h2>Digests</h2>\n<table>\n<tr><th class=\"l\">name</th><th class=\"l\">sha256</th></tr>"
    );
    for (name, d) in input.digests {
        let _ = writeln!(
            w,
            "<tr><td class=\"l\">{}</td><td class=\"l\"><code>{d}</code></td></tr>",
            esc(name)
        );
    }
    let _ = writeln!(w, "</table>\n</body>\n</html>");
    Ok(s)
}
