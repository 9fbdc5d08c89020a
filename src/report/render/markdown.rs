//! The Markdown report.

use std::fmt::Write as _;

use super::{ReportInput, fmt_gain, paper_header, side_rows};
use crate::paper::{Level, PaperModel, Split};
use crate::report::claims::Verdict;
use crate::report::golden::Fidelity;

/// Renders the whole report as Markdown.
pub fn markdown(input: &ReportInput) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# {}\n", input.title);
    let p = &input.table.provenance;
    let _ = writeln!(
        w,
        "Paper: {} (arXiv {} {}). Table 1 read from `{}` at {} commit {} (sha256 {}), {}; Figure 4 from `{}` (sha256 {}), {}.\n",
        p.paper,
        p.arxiv_id,
        p.arxiv_version,
        p.image,
        p.repository,
        p.commit,
        p.image_sha256,
        fidelity_text(p.fidelity),
        input.figure.provenance.image,
        input.figure.provenance.image_sha256,
        fidelity_text(input.figure.provenance.fidelity),
    );

    // ---- Table 1 side by side
    let (rows, agents) = side_rows(input);
    let _ = writeln!(w, "## Table 1: the paper beside this run\n");
    let _ = writeln!(
        w,
        "Paper columns are the paper's agents (other LLMs in the same scaffold); this run's columns are its own agents on the stand-in tasks, so only the orderings are comparable, not the values. **Bold**: best of each group. Avg = mean of the trajectories, Best = best of them in the metric's direction.\n"
    );
    let mut header = vec!["task", "split", "metric", "level"];
    header.extend(PaperModel::ALL.iter().map(|m| paper_header(*m)));
    header.push("starter");
    let agent_ids: Vec<String> = agents.iter().map(|a| format!("{a} (run)")).collect();
    header.extend(agent_ids.iter().map(|s| s.as_str()));
    let _ = writeln!(w, "| {} |", header.join(" | "));
    let _ = writeln!(w, "|{}", "---|".repeat(header.len()));
    for r in &rows {
        let mut cells = vec![
            r.task.to_string(),
            r.task.split().label().to_string(),
            format!(
                "{} ({})",
                r.row.metric,
                if r.row.direction == crate::paper::Direction::HigherIsBetter {
                    "↑"
                } else {
                    "↓"
                }
            ),
            r.level.label().to_string(),
        ];
        for (i, c) in r.paper.iter().enumerate() {
            cells.push(if i == r.paper_best {
                format!("**{c}**")
            } else {
                c.clone()
            });
        }
        cells.push(r.starter.clone().unwrap_or_else(|| "–".into()));
        for (i, c) in r.ours.iter().enumerate() {
            cells.push(match c {
                Some(c) if r.ours_best == Some(i) => format!("**{c}**"),
                Some(c) => c.clone(),
                None => "–".into(),
            });
        }
        let _ = writeln!(w, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(w);

    // ---- relative gains
    if let Some(res) = input.results {
        let _ = writeln!(w, "## Relative gain over the starter script (Avg level)\n");
        let _ = writeln!(
            w,
            "Relative gain = sign · (score − starter) / |starter| · 100, sign = +1 for higher-is-better metrics and −1 for lower-is-better, so an improvement is positive.\n"
        );
        let mut h = vec!["task".to_string()];
        h.extend(agents.iter().map(|a| a.to_string()));
        let _ = writeln!(w, "| {} |", h.join(" | "));
        let _ = writeln!(w, "|{}", "---|".repeat(h.len()));
        for t in &res.tasks {
            let mut cells = vec![t.task.to_string()];
            cells.extend(agents.iter().map(|a| fmt_gain(t.gain(*a, Level::Avg))));
            let _ = writeln!(w, "| {} |", cells.join(" | "));
        }
        for split in Split::ALL {
            let mut cells = vec![format!("mean {}", split.label())];
            cells.extend(
                agents
                    .iter()
                    .map(|a| fmt_gain(res.avg_gain(*a, split, Level::Avg))),
            );
            let _ = writeln!(w, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(w);
    }

    // ---- normalised improvement (the primary score)
    if let Some(res) = input.results
        && crate::report::compare::scale_of(res) == crate::report::compare::Scale::Normalised
    {
        let _ = writeln!(w, "## Normalised improvement (primary score)\n");
        let _ = writeln!(
            w,
            "g = sign · (score − starter) / |m_best − m_init|: the share of the task's known achievable improvement (the range that sets the reward's α), clipped to [{}, {}]. Per task, the mean over trajectories; per split, the interquartile mean (IQM) and the mean over every (task, trajectory), with 95 % stratified bootstrap intervals (rliable; {} resamples).\n",
            crate::results::NORMALISED_CLIP.0,
            crate::results::NORMALISED_CLIP.1,
            crate::report::compare::RESAMPLES
        );
        let mut h = vec!["task".to_string()];
        h.extend(agents.iter().map(|a| a.to_string()));
        let _ = writeln!(w, "| {} |", h.join(" | "));
        let _ = writeln!(w, "|{}", "---|".repeat(h.len()));
        for t in &res.tasks {
            let mut cells = vec![t.task.to_string()];
            cells.extend(agents.iter().map(|a| {
                t.normalised(*a).map_or("–".to_string(), |g| {
                    format!("{:+.3}", g.iter().sum::<f64>() / g.len().max(1) as f64)
                })
            }));
            let _ = writeln!(w, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "| split | agent | tasks | IQM [95% CI] | mean [95% CI] |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|");
        for split in Split::ALL {
            let tasks: Vec<_> = crate::paper::EvalTask::in_split(split).collect();
            let seed = crate::seed::SeedPath::root(0)
                .child("report-aggregates")
                .child(split.label());
            for a in crate::report::compare::aggregates(res, &tasks, &seed) {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {:+.3} [{:+.3}, {:+.3}] | {:+.3} [{:+.3}, {:+.3}] |",
                    split.label(),
                    a.agent,
                    a.tasks,
                    a.iqm.estimate,
                    a.iqm.lo,
                    a.iqm.hi,
                    a.mean.estimate,
                    a.mean.lo,
                    a.mean.hi
                );
            }
        }
        let _ = writeln!(w);
    }

    // ---- agents over an API
    if let Some(res) = input.results
        && !res.api_agents.is_empty()
    {
        api_section(w, res);
    }

    // ---- agents and their budgets
    if let Some(res) = input.results
        && !res.budgets.is_empty()
    {
        let _ = writeln!(w, "## The agents and how they spend their step budget\n");
        let _ = writeln!(
            w,
            "| agent | stands for | steps used / budget | edit share | Final Answer (share, mean step) |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|");
        for b in &res.budgets {
            let _ = writeln!(
                w,
                "| {} | {} | {:.1} / {:.1} | {:.0}% | {:.0}%, {} |",
                b.agent,
                b.agent.stands_for(),
                b.mean_steps,
                b.mean_budget,
                b.edit_share * 100.0,
                b.final_answer_share * 100.0,
                b.mean_final_answer_step
                    .map_or("–".to_string(), |s| format!("step {s:.1}"))
            );
        }
        let _ = writeln!(w);
    }

    // ---- curves
    if let Some(curves) = input.curves {
        let _ = writeln!(
            w,
            "## Figure 4 analogue: average relative gain vs RL compute\n"
        );
        let _ = writeln!(
            w,
            "Compute is counted in environment work units (deterministic); the paper's axis is GPU hours.\n"
        );
        let _ = writeln!(
            w,
            "| method | RL step | work units | policy tokens | held-in gain | held-out gain |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        for c in &curves.curves {
            for p in &c.points {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} | {} | {} |",
                    c.method.label(),
                    p.rl_step,
                    p.work_units,
                    p.policy_tokens,
                    fmt_gain(p.avg_gain(Split::HeldIn)),
                    fmt_gain(p.avg_gain(Split::HeldOut))
                );
            }
        }
        let _ = writeln!(w);
    }

    // ---- claims
    let _ = writeln!(w, "## Claims\n");
    for c in input.claims {
        let _ = writeln!(w, "### {}\n", c.id);
        let _ = writeln!(w, "{} ({})\n", c.statement, c.source);
        let _ = writeln!(
            w,
            "- On the paper's numbers: **{}**: {}",
            if c.paper.holds {
                "holds"
            } else {
                "does not hold"
            },
            c.paper.detail
        );
        match &c.reproduction {
            Some(r) => {
                let _ = writeln!(
                    w,
                    "- On this run: **{}**: {}",
                    verdict_text(r.verdict),
                    r.detail
                );
                let _ = writeln!(w, "- Statistic: {}", r.statistic);
            }
            None => {
                let _ = writeln!(w, "- On this run: not evaluated (no results)");
            }
        }
        let _ = writeln!(w);
    }

    // ---- digests
    let _ = writeln!(w, "## Digests\n");
    if input.digests.is_empty() {
        let _ = writeln!(w, "(none given)\n");
    } else {
        let _ = writeln!(w, "| name | sha256 |");
        let _ = writeln!(w, "|---|---|");
        for (name, d) in input.digests {
            let _ = writeln!(w, "| {} | `{}` |", name.replace('|', "\\|"), d);
        }
        let _ = writeln!(w);
    }
    s
}

/// The API agents beside ML-Agent, per task (mean normalised improvement, else mean score), and
/// which of Table 1's baseline columns ran: a column without an endpoint says so.
fn api_section(w: &mut String, res: &crate::results::ResultsTable) {
    use crate::paper::{Agent, PaperModel};
    let _ = writeln!(
        w,
        "## Agents over an OpenAI-compatible API
"
    );
    let _ = writeln!(
        w,
        "Each agent reads the prompt every agent reads and acts through the same parser; its answers are recorded in the eval run and replayed on a rerun (`--offline` never asks). Per task, the mean normalised improvement over trajectories (the mean test score where the task has no range).\n"
    );
    let with_ml = res.agents().contains(&Agent::MlAgent);
    let mut h = vec!["task".to_string()];
    if with_ml {
        h.push(Agent::MlAgent.to_string());
    }
    h.extend(res.api_agents.iter().map(|a| a.name.clone()));
    let _ = writeln!(w, "| {} |", h.join(" | "));
    let _ = writeln!(w, "|{}", "---|".repeat(h.len()));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    for t in &res.tasks {
        let mut cells = vec![t.task.to_string()];
        if with_ml {
            cells.push(
                match (t.normalised(Agent::MlAgent), t.scores(Agent::MlAgent)) {
                    (Some(g), _) => format!("{:+.3}", mean(&g)),
                    (None, Some(s)) => format!("{:.4}", mean(s)),
                    _ => "–".into(),
                },
            );
        }
        for a in &res.api_agents {
            cells.push(match (t.api_normalised(&a.name), t.api_scores(&a.name)) {
                (Some(g), _) => format!("{:+.3}", mean(&g)),
                (None, Some(s)) => format!("{:.4}", mean(s)),
                _ => "–".into(),
            });
        }
        let _ = writeln!(w, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "| Table 1 column | agent | model | status |");
    let _ = writeln!(w, "|---|---|---|---|");
    for col in PaperModel::BASELINES {
        match res.api_agents.iter().find(|a| a.column == Some(col)) {
            Some(a) => {
                let _ = writeln!(w, "| {} | {} | {} | evaluated |", col, a.name, a.model);
            }
            None => {
                let _ = writeln!(
                    w,
                    "| {col} | – | – | not run: no endpoint configured (eval.api_agents) |"
                );
            }
        }
    }
    for a in res.api_agents.iter().filter(|a| a.column.is_none()) {
        let _ = writeln!(w, "| (none) | {} | {} | evaluated |", a.name, a.model);
    }
    let _ = writeln!(w);
}

pub(crate) fn fidelity_text(f: Fidelity) -> String {
    match f {
        Fidelity::Exact => "exact (every number as printed)".to_string(),
        Fidelity::Approximate { tolerance_pp } => {
            format!("approximate (digitised, ±{tolerance_pp} pp)")
        }
    }
}

pub(crate) fn verdict_text(v: Verdict) -> &'static str {
    v.label()
}
