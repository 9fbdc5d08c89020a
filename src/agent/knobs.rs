//! The knobs of a script: for every key of the script's schema, its current value and the
//! alternative values an engineer would try (a few notches either way for numbers, the other
//! options for choices and flags). Idea pools, the expert and the random policy act on these.

use super::ideas::Knob;
use crate::env::script::{Kind, Script, schema};

/// Multipliers tried for a float knob (log-scale notches).
const FLOAT_STEPS: [f64; 4] = [0.1, 0.3, 3.0, 10.0];

/// The knobs of `script`, in schema order; candidates are distinct, valid for the key's kind,
/// differ from the current value, and are rendered exactly as the script renders values.
pub(crate) fn knobs_of(script: &Script) -> Vec<Knob> {
    let specs = schema(script.family());
    script
        .entries()
        .map(|(name, value)| {
            let spec = specs
                .iter()
                .find(|s| s.name == name)
                .expect("a script's entries are keys of its family's schema");
            let current = value.to_string();
            let mut candidates: Vec<String> = match spec.kind {
                Kind::Int { min, max } => {
                    let v: i64 = current.parse().expect("an Int value renders as an integer");
                    // Small counts (layers, epochs) move by one; sizes by factors of two.
                    let raw: Vec<i64> = if v <= 10 {
                        vec![v - 1, v + 1, v.saturating_mul(2)]
                    } else {
                        vec![v / 2, v.saturating_mul(2)]
                    };
                    raw.iter()
                        .map(|&x| x.clamp(min, max))
                        .map(|x| x.to_string())
                        .collect()
                }
                Kind::Float { min, max } => {
                    let v: f64 = current.parse().expect("a Float value renders as a number");
                    FLOAT_STEPS
                        .iter()
                        .map(|m| {
                            if v == 0.0 {
                                (min + max) / 2.0 * m / 10.0
                            } else {
                                v * m
                            }
                        })
                        .map(|x| round_sig(x.clamp(min, max)))
                        .map(|x| crate::env::script::Value::Float(x).to_string())
                        .collect()
                }
                Kind::Bool => vec![if current == "true" { "false" } else { "true" }.to_string()],
                Kind::Choice(options) => options.iter().map(|o| o.to_string()).collect(),
            };
            let mut seen = std::collections::BTreeSet::new();
            candidates.retain(|c| c != &current && seen.insert(c.clone()));
            Knob {
                key: name.to_string(),
                current,
                candidates,
            }
        })
        .collect()
}

/// Rounds to 3 significant digits, so candidate values read like an engineer's choices. Goes
/// through the decimal text so the result is the f64 nearest that decimal and prints short
/// (`0.03`, where scaling arithmetic gives `0.030000000000000002`).
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.2e}")
        .parse()
        .expect("Rust's own exponent formatting of a finite f64 parses back")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::DataType;

    #[test]
    fn rounded_values_print_as_three_significant_digits() {
        for (x, shown) in [
            (0.01 * 3.0, "0.03"),
            (0.1 * 3.0, "0.3"),
            (2.0 / 3.0, "0.667"),
            (1234.5, "1230.0"),
        ] {
            assert_eq!(format!("{:?}", round_sig(x)), shown);
        }
    }

    #[test]
    fn every_candidate_applies_and_differs() {
        for family in DataType::ALL {
            let s = Script::defaults(family);
            let knobs = knobs_of(&s);
            assert_eq!(knobs.len(), s.entries().count());
            assert!(knobs.iter().all(|k| !k.candidates.is_empty()), "{family:?}");
            for k in &knobs {
                for c in &k.candidates {
                    assert_ne!(c, &k.current);
                    let mut t = s.clone();
                    t.apply(&[(k.key.clone(), c.clone())])
                        .unwrap_or_else(|e| panic!("{family:?} {} = {c}: {e}", k.key));
                    let rendered = t
                        .entries()
                        .find(|(n, _)| *n == k.key)
                        .unwrap()
                        .1
                        .to_string();
                    assert_eq!(&rendered, c, "candidates render as the script renders them");
                }
            }
        }
    }
}
