//! Idea pools for exploration-enriched fine-tuning (paper §3.1): many candidate improvement
//! ideas per task, of which the most diverse few seed the expert's first step.
//!
//! Candidates are generated from a task's script knobs (every single edit away from the starter
//! value, plus seeded pairs of edits), embedded as hashed bag-of-words vectors of their text, and
//! the `k` most diverse are picked by farthest-point sampling under cosine distance.

use serde::{Deserialize, Serialize};

use crate::provenance::Hasher;
use crate::seed::SeedPath;

/// `ideas` section of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdeasConfig {
    /// Candidates generated per task (the paper: at least 100).
    pub pool_size: usize,
    /// Most diverse ideas kept per task (the paper: 10).
    pub diverse: usize,
}

/// One editable key of a script with the values an engineer might try.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knob {
    pub key: String,
    /// The starter script's value, as rendered in the script.
    pub current: String,
    /// Alternative values, as rendered in the script.
    pub candidates: Vec<String>,
}

/// An improvement idea: a thought in words and the script edits it implies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Idea {
    pub thought: String,
    /// `(key, value)` edits, applied in order.
    pub edits: Vec<(String, String)>,
}

impl Idea {
    /// The text that is embedded: the thought and the edits.
    pub fn text(&self) -> String {
        let mut s = self.thought.clone();
        for (k, v) in &self.edits {
            s.push(' ');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

/// Dimension of the hashed embedding.
pub(crate) const EMBED_DIM: usize = 256;

/// Hashed bag of words and word bigrams, L2-normalised. Deterministic and model-free, so the
/// selection is reproducible bit for bit (the paper does not name its embedding model).
pub fn embed(text: &str) -> Vec<f64> {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '='))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut v = vec![0.0f64; EMBED_DIM];
    let mut add = |tok: &str| {
        let d = {
            let mut h = Hasher::new();
            h.update(tok.as_bytes());
            h.finish()
        };
        let b = d.as_bytes();
        let idx = u16::from_le_bytes([b[0], b[1]]) as usize % EMBED_DIM;
        let sign = if b[2] & 1 == 0 { 1.0 } else { -1.0 };
        v[idx] += sign;
    };
    for w in &words {
        add(w);
    }
    for pair in words.windows(2) {
        add(&format!("{} {}", pair[0], pair[1]));
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn cosine_distance(a: &[f64], b: &[f64]) -> f64 {
    1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>()
}

/// Farthest-point sampling: starts from the point farthest from the mean, then repeatedly adds
/// the point whose nearest selected point is farthest. Ties go to the lowest index. Returns the
/// selected indices in selection order (`min(k, n)` of them).
pub(crate) fn farthest_points(points: &[Vec<f64>], k: usize) -> Vec<usize> {
    let n = points.len();
    if n == 0 || k == 0 {
        return Vec::new();
    }
    let dim = points[0].len();
    let mut mean = vec![0.0; dim];
    for p in points {
        for (m, x) in mean.iter_mut().zip(p) {
            *m += x / n as f64;
        }
    }
    let dist_to_mean: Vec<f64> = points
        .iter()
        .map(|p| p.iter().zip(&mean).map(|(a, b)| (a - b) * (a - b)).sum())
        .collect();
    let first = argmax(&dist_to_mean);
    let mut chosen = vec![first];
    let mut nearest: Vec<f64> = points
        .iter()
        .map(|p| cosine_distance(p, &points[first]))
        .collect();
    while chosen.len() < k.min(n) {
        let mut masked = nearest.clone();
        for &c in &chosen {
            masked[c] = f64::NEG_INFINITY;
        }
        let next = argmax(&masked);
        chosen.push(next);
        for (i, p) in points.iter().enumerate() {
            nearest[i] = nearest[i].min(cosine_distance(p, &points[next]));
        }
    }
    chosen
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Why a knob might be changed, in words.
fn rationale(key: &str, up: Option<bool>) -> &'static str {
    match (key, up) {
        ("learning_rate", Some(true)) => {
            "the loss falls slowly, so a larger step should converge faster"
        }
        ("learning_rate", Some(false)) => "training looks unstable, so a smaller step should help",
        ("epochs", Some(true)) => "the model is still improving at the end, so train longer",
        ("epochs", Some(false)) => {
            "the model may overfit late in training, so train for fewer epochs"
        }
        ("weight_decay", Some(true)) | ("dropout", Some(true)) => {
            "the gap between training and validation suggests overfitting, so regularise more"
        }
        ("weight_decay", Some(false)) | ("dropout", Some(false)) => {
            "the model underfits, so regularise less"
        }
        ("batch_size", Some(true)) => "larger batches give smoother gradient estimates",
        ("batch_size", Some(false)) => "smaller batches give more updates per epoch",
        (k, Some(true))
            if k.contains("hidden")
                || k.contains("width")
                || k.contains("layers")
                || k.contains("channels") =>
        {
            "the model underfits, so give it more capacity"
        }
        (k, Some(false))
            if k.contains("hidden")
                || k.contains("width")
                || k.contains("layers")
                || k.contains("channels") =>
        {
            "a smaller model may generalise better on this little data"
        }
        _ => "this setting may suit the data better",
    }
}

fn single_edit(knob: &Knob, value: &str) -> Idea {
    let up = match (knob.current.parse::<f64>(), value.parse::<f64>()) {
        (Ok(a), Ok(b)) => Some(b > a),
        _ => None,
    };
    let verb = match up {
        Some(true) => "increase",
        Some(false) => "decrease",
        None => "change",
    };
    Idea {
        thought: format!(
            "{verb} {} from {} to {value}: {}",
            knob.key,
            knob.current,
            rationale(&knob.key, up)
        ),
        edits: vec![(knob.key.clone(), value.to_string())],
    }
}

/// At least `min_pool` candidate ideas (when the knobs allow): every single edit, then seeded
/// pairs of edits on different keys. Deterministic in `seed`; no duplicates.
pub(crate) fn candidate_pool(knobs: &[Knob], min_pool: usize, seed: &SeedPath) -> Vec<Idea> {
    use rand::Rng as _;
    let mut pool: Vec<Idea> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for knob in knobs {
        for v in &knob.candidates {
            if v != &knob.current {
                let idea = single_edit(knob, v);
                if seen.insert(idea.edits.clone()) {
                    pool.push(idea);
                }
            }
        }
    }
    let singles = pool.clone();
    let mut rng = seed.rng();
    let mut attempts = 0;
    while pool.len() < min_pool && singles.len() >= 2 && attempts < 100 * min_pool {
        attempts += 1;
        let a = &singles[rng.random_range(0..singles.len())];
        let b = &singles[rng.random_range(0..singles.len())];
        if a.edits[0].0 == b.edits[0].0 {
            continue;
        }
        let mut edits = vec![a.edits[0].clone(), b.edits[0].clone()];
        edits.sort();
        if !seen.insert(edits.clone()) {
            continue;
        }
        pool.push(Idea {
            thought: format!("{}; and {}", a.thought, b.thought),
            edits,
        });
    }
    pool
}

/// The `k` most diverse ideas of `pool` (farthest-point sampling over `embed`).
pub(crate) fn most_diverse(pool: &[Idea], k: usize) -> Vec<Idea> {
    let points: Vec<Vec<f64>> = pool.iter().map(|i| embed(&i.text())).collect();
    farthest_points(&points, k)
        .into_iter()
        .map(|i| pool[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs() -> Vec<Knob> {
        let k = |key: &str, cur: &str, c: &[&str]| Knob {
            key: key.into(),
            current: cur.into(),
            candidates: c.iter().map(|s| s.to_string()).collect(),
        };
        vec![
            k(
                "learning_rate",
                "0.001",
                &["0.0003", "0.003", "0.01", "0.03"],
            ),
            k("epochs", "3", &["1", "5", "10", "20"]),
            k("hidden", "16", &["8", "32", "64", "128"]),
            k("model", "linear", &["linear", "mlp"]),
            k("weight_decay", "0", &["0.0001", "0.001", "0.01"]),
            k("batch_size", "64", &["16", "32", "128"]),
        ]
    }

    #[test]
    fn pool_reaches_its_size_without_duplicates_and_is_deterministic() {
        let s = SeedPath::root(3).child("ideas");
        let a = candidate_pool(&knobs(), 100, &s);
        let b = candidate_pool(&knobs(), 100, &s);
        assert_eq!(a, b);
        assert!(a.len() >= 100, "{}", a.len());
        let set: std::collections::HashSet<_> = a.iter().map(|i| i.edits.clone()).collect();
        assert_eq!(set.len(), a.len());
    }

    #[test]
    fn farthest_points_spreads_out() {
        // Three clusters; picking 3 must take one from each.
        let pts: Vec<Vec<f64>> = [
            [1.0, 0.0, 0.0],
            [0.99, 0.14, 0.0],
            [0.0, 1.0, 0.0],
            [0.1, 0.99, 0.0],
            [0.0, 0.0, 1.0],
        ]
        .iter()
        .map(|p| p.to_vec())
        .collect();
        let mut sel = farthest_points(&pts, 3);
        sel.sort();
        let clusters: std::collections::BTreeSet<_> =
            sel.iter().map(|&i| [0, 0, 1, 1, 2][i]).collect();
        assert_eq!(clusters.len(), 3, "{sel:?}");
        assert_eq!(farthest_points(&pts, 10).len(), 5);
        assert!(farthest_points(&[], 3).is_empty());
    }

    #[test]
    fn diverse_ideas_touch_many_keys() {
        let pool = candidate_pool(&knobs(), 100, &SeedPath::root(1));
        let top = most_diverse(&pool, 10);
        assert_eq!(top.len(), 10);
        let keys: std::collections::BTreeSet<_> = top
            .iter()
            .flat_map(|i| i.edits.iter().map(|e| e.0.clone()))
            .collect();
        assert!(keys.len() >= 4, "{keys:?}");
    }
}
