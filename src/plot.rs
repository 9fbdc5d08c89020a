//! Every plot of the project, as SVG text (plotters' SVG backend): the report's curve charts
//! and grouped bars, SFT's loss curve, RL's reward-and-gain panels. Output depends only on the
//! data: fixed sizes, fixed palettes, no fonts measured from the system, so a plot's bytes can
//! be a content output of a run.

use plotters::prelude::*;

/// A plot that plotters could not draw.
#[derive(Debug, thiserror::Error)]
#[error("plot rendering failed: {0}")]
pub struct PlotError(pub String);

/// A fixed palette (colour-blind-safe Okabe–Ito), indexed by series.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
];

pub(crate) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn perr<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError(format!("{e:?}"))
}

/// A line of a curve chart.
pub(crate) struct Line {
    pub label: String,
    pub colour: usize,
    pub points: Vec<(f64, f64)>,
}

/// A dashed horizontal reference line.
pub(crate) struct Hline {
    pub label: String,
    pub colour: usize,
    pub y: f64,
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let span = (hi - lo).abs().max(1e-9);
    (lo - 0.08 * span, hi + 0.08 * span)
}

/// A line chart: curves with markers plus dashed horizontal baselines.
pub(crate) fn curve_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    hlines: &[Hline],
) -> Result<String, PlotError> {
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (x_lo, x_hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let ys = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(hlines.iter().map(|h| h.y));
    let (y_lo, y_hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let (x_lo, x_hi) = padded(x_lo, x_hi);
    let (y_lo, y_hi) = padded(y_lo, y_hi);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|x| fmt_tick(*x))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()
            .map_err(perr)?;
        for h in hlines {
            let c = colour(h.colour);
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_lo, h.y), (x_hi, h.y)],
                    6,
                    4,
                    c.stroke_width(1),
                ))
                .map_err(perr)?
                .label(h.label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(1)));
        }
        for l in lines {
            let c = colour(l.colour);
            chart
                .draw_series(LineSeries::new(l.points.iter().copied(), c.stroke_width(2)))
                .map_err(perr)?
                .label(l.label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
            chart
                .draw_series(l.points.iter().map(|p| Circle::new(*p, 3, c.filled())))
                .map_err(perr)?;
        }
        if !lines.is_empty() || !hlines.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 11))
                .draw()
                .map_err(perr)?;
        }
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// Axis ticks: integers without decimals, large values in scientific form.
fn fmt_tick(x: f64) -> String {
    if x.abs() >= 1e5 {
        format!("{x:.1e}")
    } else if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// Grouped bars: one group per category, one bar per series; `None` leaves a gap.
pub(crate) fn grouped_bars(
    title: &str,
    y_desc: &str,
    categories: &[String],
    series: &[(String, usize)],
    values: &[Vec<Option<f64>>],
) -> Result<String, PlotError> {
    let all = values.iter().flatten().flatten().copied();
    let (lo, hi) = all.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (y_lo, y_hi) = padded(lo, hi);
    let n = categories.len().max(1) as f64;
    let width = (90 * categories.len().max(1) + 120) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..n, y_lo..y_hi)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc(y_desc)
            .y_labels(8)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(0.0, 0.0), (n, 0.0)],
                BLACK.stroke_width(1),
            )))
            .map_err(perr)?;
        let k = series.len().max(1) as f64;
        let bar = 0.8 / k;
        for (j, (label, c)) in series.iter().enumerate() {
            let c = colour(*c);
            let rects: Vec<Rectangle<(f64, f64)>> = values
                .iter()
                .enumerate()
                .filter_map(|(i, row)| {
                    let v = (*row.get(j)?)?;
                    let x0 = i as f64 + 0.1 + j as f64 * bar;
                    Some(Rectangle::new([(x0, 0.0), (x0 + bar, v)], c.filled()))
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(perr)?
                .label(label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 10, y + 4)], c.filled()));
        }
        let label_style = ("sans-serif", 10).into_font().color(&BLACK).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        chart
            .draw_series(categories.iter().enumerate().map(|(i, name)| {
                Text::new(name.clone(), (i as f64 + 0.5, y_lo), label_style.clone())
            }))
            .map_err(perr)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// A line chart of one series with markers, from the origin (SFT's loss per optimiser step).
pub(crate) fn loss_curve(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    pts: &[(f64, f64)],
) -> Result<String, PlotError> {
    let x_hi = pts.last().map_or(1.0, |p| p.0).max(1.0);
    let y_hi = pts.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..x_hi, 0.0..y_hi)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), RGBColor(0, 114, 178)))
            .map_err(perr)?;
        chart
            .draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, 2, RGBColor(0, 114, 178).filled())),
            )
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    Ok(svg)
}

/// One run on RL's two panels: mean step reward per iteration, and the held-in / held-out
/// average gain at each curve point's policy-token count (`None`: no gain defined there).
pub(crate) struct RewardAndGain<'a> {
    pub label: &'a str,
    pub rewards: Vec<(usize, f64)>,
    pub gains: Vec<(u64, Option<f64>, Option<f64>)>,
}

/// Draws mean step reward per iteration (left) and held-in (solid) / held-out (dashed)
/// average relative gain per curve point (right) for each series.
pub(crate) fn reward_and_gain(series: &[RewardAndGain<'_>]) -> Result<String, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let (left, right) = root.split_horizontally(480);
        let max_iter = series
            .iter()
            .flat_map(|s| s.rewards.iter().map(|r| r.0))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let rewards: Vec<f64> = series
            .iter()
            .flat_map(|s| s.rewards.iter().map(|r| r.1))
            .collect();
        let (rlo, rhi) = bounds(&rewards);
        let mut c = ChartBuilder::on(&left)
            .caption("mean step reward", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..max_iter, rlo..rhi)
            .map_err(perr)?;
        c.configure_mesh()
            .x_desc("iteration")
            .draw()
            .map_err(perr)?;
        for (k, s) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            c.draw_series(LineSeries::new(
                s.rewards.iter().map(|&(i, r)| (i as f64, r)),
                color,
            ))
            .map_err(perr)?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
        c.configure_series_labels()
            .border_style(BLACK)
            .draw()
            .map_err(perr)?;

        let max_tokens = series
            .iter()
            .flat_map(|s| s.gains.iter().map(|g| g.0))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let gains: Vec<f64> = series
            .iter()
            .flat_map(|s| s.gains.iter())
            .flat_map(|g| [g.1, g.2])
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
            .map_err(perr)?;
        c.configure_mesh()
            .x_desc("policy tokens (forward-equivalents)")
            .draw()
            .map_err(perr)?;
        for (k, s) in series.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            for held_in in [true, false] {
                let pts: Vec<(f64, f64)> = s
                    .gains
                    .iter()
                    .filter_map(|g| Some((g.0 as f64, if held_in { g.1 } else { g.2 }?)))
                    .collect();
                if held_in {
                    c.draw_series(LineSeries::new(pts.clone(), color))
                        .map_err(perr)?;
                } else {
                    c.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, color.into()))
                        .map_err(perr)?;
                }
                c.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                    .map_err(perr)?;
            }
        }
        root.present().map_err(perr)?;
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
