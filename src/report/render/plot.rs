//! SVG plots (plotters' SVG backend): learning curves like Figure 4 and relative gains per task.
//! Output depends only on the data: fixed sizes, fixed palette, no fonts measured from the system.

use plotters::prelude::*;

use super::RenderError;

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

fn perr<E: std::fmt::Debug>(e: E) -> RenderError {
    RenderError::Plot(format!("{e:?}"))
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
) -> Result<String, RenderError> {
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
) -> Result<String, RenderError> {
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
