//! Evaluation metrics (issue 3). PROVISIONAL copy on the `tasks` branch: the `metrics` branch
//! owns this module; this file implements the agreed signatures so the workbench compiles until
//! that branch lands. On merge, take the `metrics` branch's version.

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricError {
    #[error("length mismatch: {0} truths vs {1} predictions")]
    Length(usize, usize),
    #[error("empty input")]
    Empty,
    #[error("undefined: {0}")]
    Undefined(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Direction {
    /// Whether `a` is strictly better than `b`.
    pub fn is_better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::HigherIsBetter => a > b,
            Direction::LowerIsBetter => a < b,
        }
    }
    pub fn sign(self) -> f64 {
        match self {
            Direction::HigherIsBetter => 1.0,
            Direction::LowerIsBetter => -1.0,
        }
    }
}

fn check(n: usize, m: usize) -> Result<(), MetricError> {
    if n != m {
        return Err(MetricError::Length(n, m));
    }
    if n == 0 {
        return Err(MetricError::Empty);
    }
    Ok(())
}

pub fn accuracy<T: PartialEq>(y: &[T], p: &[T]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    Ok(y.iter().zip(p).filter(|(a, b)| a == b).count() as f64 / y.len() as f64)
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

pub fn accuracy_argmax(p: &[Vec<f64>], y: &[usize]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let pred: Vec<usize> = p.iter().map(|r| argmax(r)).collect();
    accuracy(y, &pred)
}

pub fn roc_auc(y: &[f64], s: &[f64]) -> Result<f64, MetricError> {
    check(y.len(), s.len())?;
    let mut idx: Vec<usize> = (0..s.len()).collect();
    idx.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
    // Average ranks over ties (Mann–Whitney U).
    let mut ranks = vec![0.0; s.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && s[idx[j + 1]] == s[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[idx[k]] = r;
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|v| **v == 1.0).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Err(MetricError::Undefined("AUC needs both classes"));
    }
    let sum: f64 = y.iter().zip(&ranks).filter(|(v, _)| **v == 1.0).map(|(_, r)| r).sum();
    Ok((sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

fn column(rows: &[Vec<f64>], c: usize) -> Vec<f64> {
    rows.iter().map(|r| r[c]).collect()
}

pub fn mean_columnwise_roc_auc(y: &[Vec<f64>], p: &[Vec<f64>]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let k = y[0].len();
    let mut s = 0.0;
    for c in 0..k {
        s += roc_auc(&column(y, c), &column(p, c))?;
    }
    Ok(s / k as f64)
}

pub fn log_loss_binary(y: &[f64], p: &[f64]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let eps = 1e-15;
    let s: f64 = y
        .iter()
        .zip(p)
        .map(|(y, p)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    Ok(s / y.len() as f64)
}

pub fn log_loss_multiclass(y: &[usize], p: &[Vec<f64>]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let eps = 1e-15;
    let s: f64 = y
        .iter()
        .zip(p)
        .map(|(y, row)| {
            let z: f64 = row.iter().map(|v| v.clamp(eps, 1.0 - eps)).sum();
            -(row[*y].clamp(eps, 1.0 - eps) / z).ln()
        })
        .sum();
    Ok(s / y.len() as f64)
}

pub fn mae(y: &[f64], p: &[f64]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    Ok(y.iter().zip(p).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len() as f64)
}

pub fn rmse(y: &[f64], p: &[f64]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    Ok((y.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64).sqrt())
}

pub fn rmsle(y: &[f64], p: &[f64]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    if y.iter().chain(p).any(|v| *v <= -1.0) {
        return Err(MetricError::Undefined("RMSLE needs values > -1"));
    }
    let s: f64 = y.iter().zip(p).map(|(a, b)| (a.ln_1p() - b.ln_1p()).powi(2)).sum();
    Ok((s / y.len() as f64).sqrt())
}

pub fn mean_columnwise_rmsle(y: &[Vec<f64>], p: &[Vec<f64>]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let k = y[0].len();
    let mut s = 0.0;
    for c in 0..k {
        s += rmsle(&column(y, c), &column(p, c))?;
    }
    Ok(s / k as f64)
}

pub fn mcrmse(y: &[Vec<f64>], p: &[Vec<f64>]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let k = y[0].len();
    let mut s = 0.0;
    for c in 0..k {
        s += rmse(&column(y, c), &column(p, c))?;
    }
    Ok(s / k as f64)
}

pub fn map_at_k(y: &[Vec<String>], p: &[Vec<String>], k: usize) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let mut s = 0.0;
    for (truth, pred) in y.iter().zip(p) {
        let t = &truth[0];
        if let Some(i) = pred.iter().take(k).position(|x| x == t) {
            s += 1.0 / (i + 1) as f64;
        }
    }
    Ok(s / y.len() as f64)
}

pub fn qwk(y: &[f64], p: &[f64]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let yi: Vec<i64> = y.iter().map(|v| v.round() as i64).collect();
    let pi: Vec<i64> = p.iter().map(|v| v.round() as i64).collect();
    let lo = *yi.iter().chain(&pi).min().expect("non-empty");
    let hi = *yi.iter().chain(&pi).max().expect("non-empty");
    let k = (hi - lo + 1) as usize;
    let mut o = vec![vec![0.0; k]; k];
    for (a, b) in yi.iter().zip(&pi) {
        o[(a - lo) as usize][(b - lo) as usize] += 1.0;
    }
    let n = y.len() as f64;
    let ra: Vec<f64> = (0..k).map(|i| o[i].iter().sum()).collect();
    let rb: Vec<f64> = (0..k).map(|j| (0..k).map(|i| o[i][j]).sum()).collect();
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let w = ((i as f64) - (j as f64)).powi(2);
            num += w * o[i][j];
            den += w * ra[i] * rb[j] / n;
        }
    }
    if den == 0.0 {
        return Err(MetricError::Undefined("QWK with a single category"));
    }
    Ok(1.0 - num / den)
}

pub fn pearson(y: &[f64], p: &[f64]) -> Result<f64, MetricError> {
    check(y.len(), p.len())?;
    let n = y.len() as f64;
    let my = y.iter().sum::<f64>() / n;
    let mp = p.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in y.iter().zip(p) {
        sxy += (a - my) * (b - mp);
        sxx += (a - my).powi(2);
        syy += (b - mp).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return Err(MetricError::Undefined("Pearson with a constant input"));
    }
    Ok(sxy / (sxx * syy).sqrt())
}
