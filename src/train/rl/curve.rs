//! The RL curve (Figure 4): at the SFT start and every `eval_every` iterations the current
//! policy plays sampled episodes from each evaluation task's starter; a task's score is the
//! mean test metric of its episodes' best-validation scripts, and its gain is the relative gain
//! over the starter's test metric. Every point reuses the same episode seeds (common random
//! numbers), so differences between points come from the policy, not from the draw.

use std::path::Path;

use plotters::prelude::*;

use super::{IterationMetrics, RlError, RlEvalConfig};
use crate::agent::episode::{EpisodeJob, run_episodes};
use crate::agent::lm_policy::LmPolicy;
use crate::env::Workbench;
use crate::paper::{EvalTask, Split};
use crate::results::{Curve, TaskGain, relative_gain};
use crate::seed::SeedPath;
use crate::tasks::Task;

/// The evaluation tasks that are Table 1 tasks, with their starters' test metrics.
pub struct EvalSet<'a> {
    pub tasks: Vec<(&'a Task, EvalTask, f64)>,
}

impl<'a> EvalSet<'a> {
    pub fn new(wb: &Workbench, tasks: &[&'a Task], run_seed: u64) -> Result<Self, RlError> {
        let mut out = Vec::new();
        for t in tasks {
            if let Ok(e) = t.spec.id.parse::<EvalTask>() {
                let starter = crate::eval::starter_test_metric(wb, t, run_seed)?;
                out.push((*t, e, starter));
            }
        }
        Ok(Self { tasks: out })
    }
}

/// Plays the evaluation episodes with `policy` (the learner's acting policy); returns each
/// task's gain (tasks whose gain is undefined, a zero starter, are left out).
pub fn evaluate(
    wb: &Workbench,
    set: &EvalSet<'_>,
    policy: &mut LmPolicy,
    cfg: &RlEvalConfig,
    seed: &SeedPath,
    run_seed: u64,
) -> Result<Vec<TaskGain>, RlError> {
    let mut jobs = Vec::new();
    for (task, _, _) in &set.tasks {
        for e in 0..cfg.episodes_per_task {
            jobs.push(EpisodeJob {
                task,
                seed: seed.child(&task.spec.id).child(e),
                run_seed,
                max_steps: cfg.max_steps.min(task.spec.budget.max_steps as usize),
            });
        }
    }
    let episodes = run_episodes(wb, &jobs, policy)?;
    let mut gains = Vec::new();
    for (i, (task, id, starter)) in set.tasks.iter().enumerate() {
        let eps = &episodes[i * cfg.episodes_per_task..(i + 1) * cfg.episodes_per_task];
        let mut total = 0.0;
        for ep in eps {
            total += crate::eval::episode_test_metric(wb, task, ep, run_seed)?;
        }
        let mean = total / eps.len() as f64;
        if let Some(g) = relative_gain(task.spec.metric.direction(), *starter, mean) {
            gains.push(TaskGain {
                task: *id,
                gain_percent: g,
            });
        }
    }
    Ok(gains)
}

/// One method's series for a plot.
pub struct Series<'a> {
    pub label: &'a str,
    pub metrics: &'a [IterationMetrics],
    pub curve: &'a Curve,
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> RlError {
    RlError::File {
        path: path.display().to_string(),
        message: format!("plotting: {e}"),
    }
}

/// Draws mean step reward per iteration (left) and held-in / held-out average relative gain
/// per curve point (right) for each series, as SVG text.
pub fn plot_svg(series: &[Series<'_>], path: &Path) -> Result<String, RlError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let (left, right) = root.split_horizontally(480);
        let max_iter = series
            .iter()
            .flat_map(|s| s.metrics.iter().map(|m| m.iteration))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let rewards: Vec<f64> = series
            .iter()
            .flat_map(|s| s.metrics.iter().map(|m| m.mean_reward))
            .collect();
        let (rlo, rhi) = bounds(&rewards);
        let mut c = ChartBuilder::on(&left)
            .caption("mean step reward", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..max_iter, rlo..rhi)
            .map_err(|e| plot_err(path, e))?;
        c.configure_mesh()
            .x_desc("iteration")
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (k, s) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            c.draw_series(LineSeries::new(
                s.metrics
                    .iter()
                    .map(|m| (m.iteration as f64, m.mean_reward)),
                color,
            ))
            .map_err(|e| plot_err(path, e))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        c.configure_series_labels()
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_err(path, e))?;

        let max_tokens = series
            .iter()
            .flat_map(|s| s.curve.points.iter().map(|p| p.policy_tokens))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let gains: Vec<f64> = series
            .iter()
            .flat_map(|s| s.curve.points.iter())
            .flat_map(|p| [p.avg_gain(Split::HeldIn), p.avg_gain(Split::HeldOut)])
            .flatten()
            .collect();
        let (glo, ghi) = bounds(&gains);
        let mut c = ChartBuilder::on(&right)
            .caption(
                "avg relative gain % (solid held-in, dashed held-out)",
                ("sans-serif", 14),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..max_tokens, glo..ghi)
            .map_err(|e| plot_err(path, e))?;
        c.configure_mesh()
            .x_desc("policy tokens (forward-equivalents)")
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (k, s) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            for split in [Split::HeldIn, Split::HeldOut] {
                let pts: Vec<(f64, f64)> = s
                    .curve
                    .points
                    .iter()
                    .filter_map(|p| Some((p.policy_tokens as f64, p.avg_gain(split)?)))
                    .collect();
                if split == Split::HeldIn {
                    c.draw_series(LineSeries::new(pts.clone(), color))
                        .map_err(|e| plot_err(path, e))?;
                } else {
                    c.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, color.into()))
                        .map_err(|e| plot_err(path, e))?;
                }
                c.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    Ok(svg)
}

fn bounds(xs: &[f64]) -> (f64, f64) {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(1e-3);
    (lo - pad, hi + pad)
}
