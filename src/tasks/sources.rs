//! How each bundled data source becomes a task's inputs and targets: tables, images, the
//! State of the Union corpus and its derived tasks, documents to denoise. Every read goes
//! through `data` (checksums verified, confined to the task's data folder).

use std::collections::BTreeMap;
use std::path::Path;

use super::TaskError;
use super::data::{Csv, DataDir, read_gray_png, read_idx_gz};
use super::dataset::{Document, Inputs, Targets};
use super::spec::{LabelRule, SotuTarget, Source, TableTarget, TaskSpec};
use crate::seed::SeedPath;

fn file_of<'a>(spec: &'a TaskSpec, name: &str) -> Result<&'a str, TaskError> {
    spec.files
        .iter()
        .find(|f| f.path == name)
        .map(|f| f.sha256.as_str())
        .ok_or_else(|| TaskError::Spec {
            task: spec.id.clone(),
            field: "files".into(),
            message: format!("`{name}` is used by `source` but not listed in `files`"),
        })
}

fn read(dir: &DataDir, spec: &TaskSpec, name: &str) -> Result<Vec<u8>, TaskError> {
    dir.read_verified(name, file_of(spec, name)?)
}

fn csv(dir: &DataDir, spec: &TaskSpec, name: &str) -> Result<Csv, TaskError> {
    let bytes = read(dir, spec, name)?;
    Csv::parse(&bytes, &dir.root().join(name))
}

fn parse_f64(s: &str, path: &Path, col: &str) -> Result<f64, TaskError> {
    s.trim().parse::<f64>().map_err(|_| TaskError::Format {
        path: path.to_path_buf(),
        message: format!("column `{col}`: expected a number, found {s:?}"),
    })
}

/// Applies a label rule to class names; returns per-example keep flags and targets.
fn apply_rule(classes: &[String], rule: &LabelRule) -> (Vec<bool>, Targets) {
    match rule {
        LabelRule::Classes(names) => {
            let keep: Vec<bool> = classes.iter().map(|c| names.contains(c)).collect();
            let labels = classes
                .iter()
                .filter_map(|c| names.iter().position(|n| n == c))
                .collect();
            (
                keep,
                Targets::Classes {
                    labels,
                    names: names.clone(),
                },
            )
        }
        LabelRule::Binary { positive, negative } => {
            let keep: Vec<bool> = classes
                .iter()
                .map(|c| positive.contains(c) || negative.as_ref().is_none_or(|n| n.contains(c)))
                .collect();
            let values = classes
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(c, _)| if positive.contains(c) { 1.0 } else { 0.0 })
                .collect();
            (keep, Targets::Binary(values))
        }
        LabelRule::OneHot(names) => {
            let keep: Vec<bool> = classes.iter().map(|c| names.contains(c)).collect();
            let values = classes
                .iter()
                .filter(|c| names.contains(c))
                .map(|c| names.iter().map(|n| f64::from(u8::from(n == c))).collect())
                .collect();
            (
                keep,
                Targets::Columns {
                    names: names.clone(),
                    values,
                },
            )
        }
    }
}

fn keep_rows<T: Clone>(v: &[T], keep: &[bool]) -> Vec<T> {
    v.iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(x, _)| x.clone())
        .collect()
}

struct SotuRow {
    year: u32,
    president: String,
    party: String,
    text: String,
    speech: usize,
    position: f64,
}

fn sotu(dir: &DataDir, spec: &TaskSpec) -> Result<Vec<SotuRow>, TaskError> {
    let name = "sotu_paragraphs.csv";
    let path = dir.root().join(name);
    let t = csv(dir, spec, name)?;
    let (cy, cp, ca, ct) = (
        t.column("year", &path)?,
        t.column("president", &path)?,
        t.column("party", &path)?,
        t.column("paragraph", &path)?,
    );
    let mut rows = Vec::new();
    let mut speeches: BTreeMap<(u32, String), usize> = BTreeMap::new();
    for r in &t.rows {
        let year = parse_f64(&r[cy], &path, "year")? as u32;
        let next = speeches.len();
        let speech = *speeches.entry((year, r[cp].clone())).or_insert(next);
        rows.push(SotuRow {
            year,
            president: r[cp].clone(),
            party: r[ca].clone(),
            text: r[ct].clone(),
            speech,
            position: 0.0,
        });
    }
    // Relative position of each paragraph within its speech, in file order.
    let mut count = vec![0usize; speeches.len()];
    for r in &rows {
        count[r.speech] += 1;
    }
    let mut seen = vec![0usize; speeches.len()];
    for r in &mut rows {
        let n = count[r.speech];
        r.position = if n > 1 {
            seen[r.speech] as f64 / (n - 1) as f64
        } else {
            0.0
        };
        seen[r.speech] += 1;
    }
    Ok(rows)
}

fn fashion(
    dir: &DataDir,
    spec: &TaskSpec,
    per_class: Option<usize>,
) -> Result<(Vec<Vec<f32>>, Vec<String>), TaskError> {
    let mut pixels = Vec::new();
    let mut classes = Vec::new();
    for part in ["train", "t10k"] {
        let iname = format!("fashion_mnist/{part}-images-idx3-ubyte.gz");
        let lname = format!("fashion_mnist/{part}-labels-idx1-ubyte.gz");
        let (idims, ibytes) = read_idx_gz(&read(dir, spec, &iname)?, &dir.root().join(&iname))?;
        let (ldims, lbytes) = read_idx_gz(&read(dir, spec, &lname)?, &dir.root().join(&lname))?;
        if idims.len() != 3 || idims[1..] != [28, 28] || ldims != [idims[0]] {
            return Err(TaskError::Format {
                path: dir.root().join(&iname),
                message: format!(
                    "expected N x 28 x 28 images and N labels, found {idims:?} / {ldims:?}"
                ),
            });
        }
        for (i, l) in lbytes.iter().enumerate() {
            pixels.push(
                ibytes[i * 784..(i + 1) * 784]
                    .iter()
                    .map(|&b| b as f32 / 255.0)
                    .collect(),
            );
            classes.push(l.to_string());
        }
    }
    if let Some(k) = per_class {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let keep: Vec<bool> = classes
            .iter()
            .map(|c| {
                let n = seen.entry(c.clone()).or_default();
                *n += 1;
                *n <= k
            })
            .collect();
        pixels = keep_rows(&pixels, &keep);
        classes = keep_rows(&classes, &keep);
    }
    Ok((pixels, classes))
}

/// Seeded stains: dark elliptical blotches with soft edges plus faint paper texture.
fn stain(clean: &[f32], width: usize, height: usize, stains: usize, seed: SeedPath) -> Vec<f32> {
    use rand::Rng as _;
    let mut rng = seed.rng();
    let mut noisy = clean.to_vec();
    for _ in 0..stains {
        let cx = rng.random_range(0.0..width as f32);
        let cy = rng.random_range(0.0..height as f32);
        let rx = rng.random_range(8.0..40.0f32);
        let ry = rng.random_range(8.0..40.0f32);
        let depth = rng.random_range(0.15..0.45f32);
        for y in 0..height {
            for x in 0..width {
                let d = ((x as f32 - cx) / rx).powi(2) + ((y as f32 - cy) / ry).powi(2);
                if d < 1.0 {
                    noisy[y * width + x] *= 1.0 - depth * (1.0 - d);
                }
            }
        }
    }
    for v in &mut noisy {
        *v = (*v * 0.92 + rng.random_range(-0.04..0.04f32)).clamp(0.0, 1.0);
    }
    noisy
}

/// The inputs and targets of `spec`, built from its files in `dir`.
pub(super) fn build(spec: &TaskSpec, dir: &DataDir) -> Result<(Inputs, Targets), TaskError> {
    Ok(match &spec.source {
        Source::Table {
            file,
            numeric,
            categorical,
            target,
        } => {
            let path = dir.root().join(file);
            let t = csv(dir, spec, file)?;
            let ncols: Vec<usize> = numeric
                .iter()
                .map(|c| t.column(c, &path))
                .collect::<Result<_, _>>()?;
            let ccols: Vec<usize> = categorical
                .iter()
                .map(|c| t.column(c, &path))
                .collect::<Result<_, _>>()?;
            let tcols: Vec<(String, usize)> = match target {
                TableTarget::Class(c) => vec![(c.clone(), t.column(c, &path)?)],
                TableTarget::Regression(cs) => cs
                    .iter()
                    .map(|c| Ok((c.clone(), t.column(c, &path)?)))
                    .collect::<Result<_, TaskError>>()?,
            };
            let mut num = Vec::new();
            let mut cat = Vec::new();
            let mut raw_t: Vec<Vec<String>> = Vec::new();
            for r in &t.rows {
                let used = ncols
                    .iter()
                    .chain(&ccols)
                    .chain(tcols.iter().map(|(_, i)| i));
                if used.into_iter().any(|&i| r[i] == "NA" || r[i].is_empty()) {
                    continue; // documented: rows with a missing value are dropped
                }
                num.push(
                    ncols
                        .iter()
                        .zip(numeric)
                        .map(|(&i, name)| parse_f64(&r[i], &path, name))
                        .collect::<Result<Vec<_>, _>>()?,
                );
                cat.push(ccols.iter().map(|&i| r[i].clone()).collect());
                raw_t.push(tcols.iter().map(|(_, i)| r[*i].clone()).collect());
            }
            let targets = match target {
                TableTarget::Class(_) => {
                    let mut names: Vec<String> = raw_t.iter().map(|v| v[0].clone()).collect();
                    names.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
                        (Ok(x), Ok(y)) => x.total_cmp(&y),
                        _ => a.cmp(b),
                    });
                    names.dedup();
                    let labels = raw_t
                        .iter()
                        .map(|v| names.iter().position(|n| *n == v[0]).expect("name listed"))
                        .collect();
                    Targets::Classes { labels, names }
                }
                TableTarget::Regression(cs) => Targets::Columns {
                    names: cs.clone(),
                    values: raw_t
                        .iter()
                        .map(|v| {
                            v.iter()
                                .zip(cs)
                                .map(|(s, c)| parse_f64(s, &path, c))
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .collect::<Result<_, _>>()?,
                },
            };
            (
                Inputs::Table {
                    numeric_names: numeric.clone(),
                    numeric: num,
                    categorical_names: categorical.clone(),
                    categorical: cat,
                },
                targets,
            )
        }
        Source::FashionMnist { per_class, rule } => {
            let (pixels, classes) = fashion(dir, spec, *per_class)?;
            let (keep, targets) = apply_rule(&classes, rule);
            (
                Inputs::Images {
                    height: 28,
                    width: 28,
                    pixels: keep_rows(&pixels, &keep),
                },
                targets,
            )
        }
        Source::Digits { rule } => {
            let name = "digits.csv";
            let path = dir.root().join(name);
            let t = csv(dir, spec, name)?;
            let cl = t.column("label", &path)?;
            let pcols: Vec<usize> = (0..64)
                .map(|i| t.column(&format!("p{i}"), &path))
                .collect::<Result<_, _>>()?;
            let mut pixels = Vec::new();
            let mut classes = Vec::new();
            for r in &t.rows {
                let mut px = Vec::with_capacity(64);
                for &c in &pcols {
                    px.push(parse_f64(&r[c], &path, "pixel")? as f32 / 16.0);
                }
                pixels.push(px);
                classes.push(r[cl].clone());
            }
            let (keep, targets) = apply_rule(&classes, rule);
            (
                Inputs::Images {
                    height: 8,
                    width: 8,
                    pixels: keep_rows(&pixels, &keep),
                },
                targets,
            )
        }
        Source::Sotu { presidents, target } => {
            let mut rows = sotu(dir, spec)?;
            if let Some(p) = presidents {
                rows.retain(|r| p.contains(&r.president));
            }
            let texts: Vec<String> = rows.iter().map(|r| r.text.clone()).collect();
            match target {
                SotuTarget::Column { column, rule } => {
                    let classes = sotu_column(&rows, column, spec)?;
                    let (keep, targets) = apply_rule(&classes, rule);
                    (Inputs::Texts(keep_rows(&texts, &keep)), targets)
                }
                SotuTarget::YearAndPosition => {
                    let values = rows
                        .iter()
                        .map(|r| {
                            vec![
                                1.0 + 4.0 * (f64::from(r.year) - 1790.0) / (2021.0 - 1790.0),
                                1.0 + 4.0 * r.position,
                            ]
                        })
                        .collect();
                    (
                        Inputs::Texts(texts),
                        Targets::Columns {
                            names: vec!["year".into(), "position".into()],
                            values,
                        },
                    )
                }
                SotuTarget::HalfCentury => {
                    let labels = rows
                        .iter()
                        .map(|r| ((r.year - 1790) / 50) as usize)
                        .collect();
                    (
                        Inputs::Texts(texts),
                        Targets::Classes {
                            labels,
                            names: (0..5).map(|i| format!("{}s", 1790 + 50 * i)).collect(),
                        },
                    )
                }
            }
        }
        Source::Spam => {
            let name = "spam_assassin.csv";
            let path = dir.root().join(name);
            let t = csv(dir, spec, name)?;
            let (cl, ct) = (t.column("label", &path)?, t.column("text", &path)?);
            let mut texts = Vec::new();
            let mut y = Vec::new();
            for r in &t.rows {
                texts.push(r[ct].clone());
                y.push(parse_f64(&r[cl], &path, "label")?);
            }
            (Inputs::Texts(texts), Targets::Binary(y))
        }
        Source::SotuGraph { column, rule } => {
            let rows = sotu(dir, spec)?;
            let classes = sotu_column(&rows, column, spec)?;
            let (keep, targets) = apply_rule(&classes, rule);
            let texts = rows.iter().map(|r| r.text.clone()).collect::<Vec<_>>();
            let group = rows.iter().map(|r| r.speech).collect::<Vec<_>>();
            (
                Inputs::Graph {
                    texts: keep_rows(&texts, &keep),
                    group: keep_rows(&group, &keep),
                },
                targets,
            )
        }
        Source::SotuPairs { pairs } => {
            use rand::Rng as _;
            let rows = sotu(dir, spec)?;
            let mut rng = SeedPath::root(spec.split_rule.seed)
                .child("pairs")
                .child(&spec.id)
                .rng();
            let mut out = Vec::with_capacity(*pairs);
            let mut y = Vec::with_capacity(*pairs);
            for k in 0..*pairs {
                let a = rng.random_range(0..rows.len());
                // A quarter of the pairs come from the same speech so every grade occurs.
                let b = if k % 4 == 0 {
                    let s = rows[a].speech;
                    let same: Vec<usize> = (0..rows.len())
                        .filter(|&i| rows[i].speech == s && i != a)
                        .collect();
                    if same.is_empty() {
                        rng.random_range(0..rows.len())
                    } else {
                        same[rng.random_range(0..same.len())]
                    }
                } else {
                    rng.random_range(0..rows.len())
                };
                let (ra, rb) = (&rows[a], &rows[b]);
                let grade = if ra.speech == rb.speech {
                    1.0
                } else if ra.president == rb.president {
                    0.75
                } else if ra.party == rb.party {
                    0.5
                } else if (ra.year - 1790) / 50 == (rb.year - 1790) / 50 {
                    0.25
                } else {
                    0.0
                };
                out.push((ra.text.clone(), rb.text.clone()));
                y.push(vec![grade]);
            }
            (
                Inputs::Pairs(out),
                Targets::Columns {
                    names: vec!["score".into()],
                    values: y,
                },
            )
        }
        Source::Documents {
            train,
            eval,
            stains_per_image,
        } => {
            let mut documents = Vec::new();
            for name in [train, eval] {
                let (w, h, clean) = read_gray_png(&read(dir, spec, name)?, &dir.root().join(name))?;
                let noisy = stain(
                    &clean,
                    w,
                    h,
                    *stains_per_image,
                    SeedPath::root(spec.split_rule.seed)
                        .child("stains")
                        .child(name),
                );
                documents.push(Document {
                    width: w,
                    height: h,
                    clean,
                    noisy,
                });
            }
            let mut pixels = Vec::new();
            let mut y = Vec::new();
            for (d, doc) in documents.iter().enumerate() {
                for yy in 0..doc.height {
                    for x in 0..doc.width {
                        pixels.push((d, x, yy));
                        y.push(vec![f64::from(doc.clean[yy * doc.width + x])]);
                    }
                }
            }
            (
                Inputs::Pixels { documents, pixels },
                Targets::Columns {
                    names: vec!["clean".into()],
                    values: y,
                },
            )
        }
    })
}

fn sotu_column(rows: &[SotuRow], column: &str, spec: &TaskSpec) -> Result<Vec<String>, TaskError> {
    match column {
        "party" => Ok(rows.iter().map(|r| r.party.clone()).collect()),
        "president" => Ok(rows.iter().map(|r| r.president.clone()).collect()),
        other => Err(TaskError::Spec {
            task: spec.id.clone(),
            field: "source.column".into(),
            message: format!("expected `party` or `president`, found `{other}`"),
        }),
    }
}
