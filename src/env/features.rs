//! Feature building per data family: turns a split's raw inputs into a dense f32 matrix using
//! the script's transforms. Every statistic (means, idf, vocabulary) is fitted on the training
//! split only and then applied unchanged to the evaluation split.

use crate::tasks::Inputs;

use super::script::Script;

/// A dense row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub(crate) fn from_rows(rows: Vec<Vec<f32>>, cols: usize) -> Self {
        let n = rows.len();
        let data: Vec<f32> = rows.into_iter().flatten().collect();
        debug_assert_eq!(data.len(), n * cols);
        Self {
            rows: n,
            cols,
            data,
        }
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// Image geometry, carried to the CNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub height: usize,
    pub width: usize,
}

/// Features of the training split (possibly augmented) and of the evaluation splits.
pub struct Features {
    pub train: Matrix,
    /// For each training row, the example it came from (augmentation adds copies).
    pub train_source: Vec<usize>,
    pub eval: Vec<Matrix>,
    pub image: Option<Shape>,
}

/// z-scores columns with statistics fitted on `fit`; constant columns stay centred.
fn standardise(fit: &mut Matrix, others: &mut [Matrix]) {
    let d = fit.cols;
    let n = fit.rows.max(1) as f64;
    let mut mean = vec![0.0f64; d];
    let mut var = vec![0.0f64; d];
    for i in 0..fit.rows {
        for (j, v) in fit.row(i).iter().enumerate() {
            mean[j] += f64::from(*v) / n;
        }
    }
    for i in 0..fit.rows {
        for (j, v) in fit.row(i).iter().enumerate() {
            var[j] += (f64::from(*v) - mean[j]).powi(2) / n;
        }
    }
    let scale: Vec<f64> = var
        .iter()
        .map(|v| if *v > 1e-12 { 1.0 / v.sqrt() } else { 1.0 })
        .collect();
    for m in std::iter::once(fit).chain(others.iter_mut()) {
        for (k, v) in m.data.iter_mut().enumerate() {
            let j = k % d;
            *v = ((f64::from(*v) - mean[j]) * scale[j]) as f32;
        }
    }
}

/// FNV-1a: a fixed, portable hash for feature hashing.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn tokens(text: &str, lowercase: bool) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| {
            if lowercase {
                t.to_lowercase()
            } else {
                t.to_string()
            }
        })
        .collect()
}

/// Hashed n-gram counts of one text.
fn hashed(text: &str, script: &Script) -> Vec<f32> {
    let dim = 1usize << script.usize("hash_bits");
    let n = script.usize("ngram");
    let toks = tokens(text, script.flag("lowercase"));
    let mut v = vec![0.0f32; dim];
    for g in 1..=n {
        for w in toks.windows(g) {
            let h = fnv1a(w.join(" ").as_bytes()) as usize % dim;
            v[h] += 1.0;
        }
    }
    v
}

/// Text features: hashed n-grams, weighted, L2-normalised. idf is fitted on `fit`.
fn text_features(
    texts: &[&str],
    fit: &[usize],
    sets: &[&[usize]],
    script: &Script,
) -> (Matrix, Vec<Matrix>) {
    let dim = 1usize << script.usize("hash_bits");
    let weighting = script.choice("weighting");
    let raw = |idx: &[usize]| -> Vec<Vec<f32>> {
        idx.iter().map(|&i| hashed(texts[i], script)).collect()
    };
    let train_raw = raw(fit);
    let mut df = vec![0.0f64; dim];
    for r in &train_raw {
        for (j, v) in r.iter().enumerate() {
            if *v > 0.0 {
                df[j] += 1.0;
            }
        }
    }
    let n = train_raw.len() as f64;
    let idf: Vec<f32> = df
        .iter()
        .map(|d| (((1.0 + n) / (1.0 + d)).ln() + 1.0) as f32)
        .collect();
    let finish = |rows: Vec<Vec<f32>>| -> Matrix {
        let rows = rows
            .into_iter()
            .map(|mut r| {
                for (j, v) in r.iter_mut().enumerate() {
                    *v = match weighting {
                        "binary" => f32::from(u8::from(*v > 0.0)),
                        "count" => *v,
                        _ => *v * idf[j],
                    };
                }
                let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt();
                if norm > 0.0 {
                    r.iter_mut().for_each(|v| *v /= norm);
                }
                r
            })
            .collect();
        Matrix::from_rows(rows, dim)
    };
    let train = finish(train_raw);
    let others = sets.iter().map(|s| finish(raw(s))).collect();
    (train, others)
}

fn flip(px: &[f32], s: Shape) -> Vec<f32> {
    let mut out = vec![0.0; px.len()];
    for y in 0..s.height {
        for x in 0..s.width {
            out[y * s.width + x] = px[y * s.width + (s.width - 1 - x)];
        }
    }
    out
}

fn shift(px: &[f32], s: Shape, dx: isize, dy: isize) -> Vec<f32> {
    let mut out = vec![0.0; px.len()];
    for y in 0..s.height as isize {
        for x in 0..s.width as isize {
            let (sx, sy) = (x - dx, y - dy);
            if sx >= 0 && sy >= 0 && (sx as usize) < s.width && (sy as usize) < s.height {
                out[(y as usize) * s.width + x as usize] = px[sy as usize * s.width + sx as usize];
            }
        }
    }
    out
}

/// Builds features for the training split `train` and evaluation splits `sets`.
pub fn build(inputs: &Inputs, script: &Script, train: &[usize], sets: &[&[usize]]) -> Features {
    match inputs {
        Inputs::Table {
            numeric,
            categorical,
            ..
        } => {
            let one_hot = script.flag("one_hot");
            // Category levels come from the training split only; unseen levels encode as zeros.
            let ncat = categorical.first().map_or(0, Vec::len);
            let levels: Vec<Vec<String>> = (0..ncat)
                .map(|c| {
                    let mut l: Vec<String> =
                        train.iter().map(|&i| categorical[i][c].clone()).collect();
                    l.sort();
                    l.dedup();
                    l
                })
                .collect();
            let width = numeric.first().map_or(0, Vec::len)
                + if one_hot {
                    levels.iter().map(Vec::len).sum()
                } else {
                    0
                };
            let row = |i: usize| -> Vec<f32> {
                let mut r: Vec<f32> = numeric[i].iter().map(|v| *v as f32).collect();
                if one_hot {
                    for (c, l) in levels.iter().enumerate() {
                        r.extend(
                            l.iter()
                                .map(|v| f32::from(u8::from(*v == categorical[i][c]))),
                        );
                    }
                }
                r
            };
            let mut tr = Matrix::from_rows(train.iter().map(|&i| row(i)).collect(), width);
            let mut ev: Vec<Matrix> = sets
                .iter()
                .map(|s| Matrix::from_rows(s.iter().map(|&i| row(i)).collect(), width))
                .collect();
            if script.flag("standardise") {
                standardise(&mut tr, &mut ev);
            }
            Features {
                train: tr,
                train_source: train.to_vec(),
                eval: ev,
                image: None,
            }
        }
        Inputs::Images {
            height,
            width,
            pixels,
        } => {
            let shape = Shape {
                height: *height,
                width: *width,
            };
            let d = height * width;
            let mut rows = Vec::new();
            let mut source = Vec::new();
            for &i in train {
                rows.push(pixels[i].clone());
                source.push(i);
            }
            match script.choice("augment") {
                "flip" => {
                    for &i in train {
                        rows.push(flip(&pixels[i], shape));
                        source.push(i);
                    }
                }
                "shift" => {
                    for (k, &i) in train.iter().enumerate() {
                        let (dx, dy) = [(1, 0), (-1, 0), (0, 1), (0, -1)][k % 4];
                        rows.push(shift(&pixels[i], shape, dx, dy));
                        source.push(i);
                    }
                }
                _ => {}
            }
            let mut tr = Matrix::from_rows(rows, d);
            let mut ev: Vec<Matrix> = sets
                .iter()
                .map(|s| Matrix::from_rows(s.iter().map(|&i| pixels[i].clone()).collect(), d))
                .collect();
            if script.flag("standardise") {
                standardise(&mut tr, &mut ev);
            }
            Features {
                train: tr,
                train_source: source,
                eval: ev,
                image: Some(shape),
            }
        }
        Inputs::Texts(texts) => {
            let t: Vec<&str> = texts.iter().map(String::as_str).collect();
            let (tr, ev) = text_features(&t, train, sets, script);
            Features {
                train: tr,
                train_source: train.to_vec(),
                eval: ev,
                image: None,
            }
        }
        Inputs::Graph { texts, group } => {
            // Node features for every node (transductive, as in ogbn-arxiv: neighbours'
            // features, never their labels, may come from any split); idf from training nodes.
            let t: Vec<&str> = texts.iter().map(String::as_str).collect();
            let all: Vec<usize> = (0..texts.len()).collect();
            let (_, mut x) = text_features(&t, train, &[&all], script);
            let x = x.remove(0);
            let hops = script.usize("hops");
            let d = x.cols;
            let feats: Vec<Vec<f32>> = if hops == 0 {
                (0..x.rows).map(|i| x.row(i).to_vec()).collect()
            } else {
                let groups = group.iter().max().map_or(0, |m| m + 1);
                let mut sum = vec![vec![0.0f32; d]; groups];
                let mut count = vec![0usize; groups];
                for i in 0..x.rows {
                    count[group[i]] += 1;
                    for (s, v) in sum[group[i]].iter_mut().zip(x.row(i)) {
                        *s += v;
                    }
                }
                (0..x.rows)
                    .map(|i| {
                        let g = group[i];
                        let k = (count[g] - 1).max(1) as f32;
                        let mut r = x.row(i).to_vec();
                        r.extend(sum[g].iter().zip(x.row(i)).map(|(s, v)| (s - v) / k));
                        r
                    })
                    .collect()
            };
            let width = feats.first().map_or(d, Vec::len);
            let take = |idx: &[usize]| {
                Matrix::from_rows(idx.iter().map(|&i| feats[i].clone()).collect(), width)
            };
            Features {
                train: take(train),
                train_source: train.to_vec(),
                eval: sets.iter().map(|s| take(s)).collect(),
                image: None,
            }
        }
        Inputs::Pairs(pairs) => {
            // Each pair contributes two texts: 2i and 2i + 1.
            let t: Vec<&str> = pairs
                .iter()
                .flat_map(|(a, b)| [a.as_str(), b.as_str()])
                .collect();
            let expand = |idx: &[usize]| -> Vec<usize> {
                idx.iter().flat_map(|&i| [2 * i, 2 * i + 1]).collect()
            };
            let (tr, ev) = text_features(
                &t,
                &expand(train),
                &sets
                    .iter()
                    .map(|s| expand(s))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(Vec::as_slice)
                    .collect::<Vec<_>>(),
                script,
            );
            let mode = script.choice("pair_features");
            let combine = |m: &Matrix| -> Matrix {
                let rows = (0..m.rows / 2)
                    .map(|p| {
                        let (a, b) = (m.row(2 * p), m.row(2 * p + 1));
                        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs());
                        let prod = a.iter().zip(b).map(|(x, y)| x * y);
                        match mode {
                            "diff" => diff.collect(),
                            "product" => prod.collect(),
                            _ => diff.chain(prod).collect::<Vec<f32>>(),
                        }
                    })
                    .collect::<Vec<Vec<f32>>>();
                let cols = if mode == "both" { 2 * m.cols } else { m.cols };
                Matrix::from_rows(rows, cols)
            };
            Features {
                train: combine(&tr),
                train_source: train.to_vec(),
                eval: ev.iter().map(combine).collect(),
                image: None,
            }
        }
        Inputs::Pixels { documents, pixels } => {
            let k = script.usize("patch");
            let r = (k / 2) as isize;
            let row = |i: usize| -> Vec<f32> {
                let (d, x, y) = pixels[i];
                let doc = &documents[d];
                let mut out = Vec::with_capacity(k * k);
                for dy in -r..=r {
                    for dx in -r..=r {
                        let xx = (x as isize + dx).clamp(0, doc.width as isize - 1) as usize;
                        let yy = (y as isize + dy).clamp(0, doc.height as isize - 1) as usize;
                        out.push(doc.noisy[yy * doc.width + xx]);
                    }
                }
                out
            };
            let width = (2 * r as usize + 1).pow(2);
            let take =
                |idx: &[usize]| Matrix::from_rows(idx.iter().map(|&i| row(i)).collect(), width);
            Features {
                train: take(train),
                train_source: train.to_vec(),
                eval: sets.iter().map(|s| take(s)).collect(),
                image: None,
            }
        }
    }
}
