//! The experiment script an agent edits: a typed set of `key = value` settings whose keys and
//! value types depend on the task's data family. Every script has `epochs` and `learning_rate`;
//! every key has a default, so a script always renders all of its keys in schema order.

use std::fmt;

use crate::tasks::DataType;

/// The type (and allowed range) of one key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Bool,
    Choice(&'static [&'static str]),
}

/// One key of a family's schema.
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub help: &'static str,
}

/// A typed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Choice(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            // `{:?}` is Rust's shortest round-trip form and always shows a decimal point or exponent.
            Value::Float(v) => write!(f, "{v:?}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Choice(v) => write!(f, "{v}"),
        }
    }
}

impl Kind {
    /// Parses `text` as a value of this kind; the error says what was expected.
    pub fn parse(self, text: &str) -> Result<Value, String> {
        let t = text.trim();
        match self {
            Kind::Int { min, max } => {
                let v: i64 = t
                    .parse()
                    .map_err(|_| format!("expected an integer in {min}..={max}, found `{t}`"))?;
                if v < min || v > max {
                    return Err(format!("expected an integer in {min}..={max}, found {v}"));
                }
                Ok(Value::Int(v))
            }
            Kind::Float { min, max } => {
                let v: f64 = t
                    .parse()
                    .map_err(|_| format!("expected a number in [{min}, {max}], found `{t}`"))?;
                if !v.is_finite() || v < min || v > max {
                    return Err(format!("expected a number in [{min}, {max}], found {v}"));
                }
                Ok(Value::Float(v))
            }
            Kind::Bool => match t {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("expected true or false, found `{t}`")),
            },
            Kind::Choice(options) => options
                .iter()
                .find(|o| **o == t)
                .map(|o| Value::Choice(o.to_string()))
                .ok_or_else(|| format!("expected one of {}, found `{t}`", options.join(" | "))),
        }
    }
}

const fn int(
    name: &'static str,
    min: i64,
    max: i64,
    default: &'static str,
    help: &'static str,
) -> KeySpec {
    KeySpec {
        name,
        kind: Kind::Int { min, max },
        default,
        help,
    }
}
const fn float(
    name: &'static str,
    min: f64,
    max: f64,
    default: &'static str,
    help: &'static str,
) -> KeySpec {
    KeySpec {
        name,
        kind: Kind::Float { min, max },
        default,
        help,
    }
}
const fn boolean(name: &'static str, default: &'static str, help: &'static str) -> KeySpec {
    KeySpec {
        name,
        kind: Kind::Bool,
        default,
        help,
    }
}
const fn choice(
    name: &'static str,
    options: &'static [&'static str],
    default: &'static str,
    help: &'static str,
) -> KeySpec {
    KeySpec {
        name,
        kind: Kind::Choice(options),
        default,
        help,
    }
}

const TRAINING: [KeySpec; 9] = [
    int("epochs", 1, 100, "1", "passes over the training split"),
    float(
        "learning_rate",
        1e-6,
        10.0,
        "0.01",
        "step size of the optimiser",
    ),
    choice(
        "optimizer",
        &["sgd", "momentum", "adam"],
        "sgd",
        "sgd, sgd with momentum 0.9, or adam",
    ),
    int("batch_size", 1, 4096, "64", "examples per gradient step"),
    float(
        "weight_decay",
        0.0,
        1.0,
        "0.0",
        "L2 penalty (decoupled for adam)",
    ),
    int(
        "hidden",
        1,
        512,
        "32",
        "width of each hidden layer (mlp, cnn head)",
    ),
    int("layers", 1, 3, "1", "hidden layers of the mlp"),
    choice("activation", &["relu", "tanh"], "relu", "hidden activation"),
    float(
        "dropout",
        0.0,
        0.9,
        "0.0",
        "dropout on hidden units while training",
    ),
];

const TABULAR: [KeySpec; 5] = [
    choice("model", &["linear", "mlp"], "linear", "model family"),
    boolean(
        "standardise",
        "false",
        "scale numeric features to zero mean, unit variance (train statistics)",
    ),
    boolean(
        "one_hot",
        "false",
        "one-hot encode categorical columns (otherwise they are dropped)",
    ),
    boolean(
        "log_target",
        "false",
        "regress log(1 + target) (regression tasks)",
    ),
    choice(
        "loss",
        &["mse", "mae", "huber"],
        "mse",
        "regression loss (regression tasks)",
    ),
];

const IMAGE: [KeySpec; 4] = [
    choice(
        "model",
        &["linear", "mlp", "cnn"],
        "linear",
        "model family (cnn: two 3x3 stride-2 conv layers)",
    ),
    int(
        "channels",
        1,
        32,
        "8",
        "channels of the first conv layer (cnn)",
    ),
    boolean(
        "standardise",
        "false",
        "scale pixels to zero mean, unit variance (train statistics)",
    ),
    choice(
        "augment",
        &["none", "flip", "shift"],
        "none",
        "add mirrored or 1-pixel shifted training copies",
    ),
];

const TEXT: [KeySpec; 5] = [
    choice("model", &["linear", "mlp"], "linear", "model family"),
    int("ngram", 1, 3, "1", "word n-grams 1..=ngram"),
    int(
        "hash_bits",
        4,
        12,
        "8",
        "hashed feature dimension 2^hash_bits",
    ),
    choice(
        "weighting",
        &["binary", "count", "tfidf"],
        "binary",
        "term weighting (rows are L2-normalised)",
    ),
    boolean("lowercase", "false", "lower-case before tokenising"),
];

const GRAPH_EXTRA: [KeySpec; 1] = [int(
    "hops",
    0,
    1,
    "0",
    "neighbour aggregation: 1 appends the mean features of a node's neighbours",
)];

const PAIRS_EXTRA: [KeySpec; 1] = [choice(
    "pair_features",
    &["diff", "product", "both"],
    "diff",
    "|a - b|, a * b, or both, of the two texts' feature vectors",
)];

const DENOISE: [KeySpec; 2] = [
    choice("model", &["linear", "mlp"], "linear", "model family"),
    int(
        "patch",
        1,
        9,
        "1",
        "side of the square pixel neighbourhood fed to the model (odd)",
    ),
];

const REGRESSION: [KeySpec; 1] = [choice(
    "loss",
    &["mse", "mae", "huber"],
    "mse",
    "regression loss",
)];

/// The keys of a family's script, in rendering order.
pub fn schema(family: DataType) -> Vec<KeySpec> {
    let mut keys: Vec<KeySpec> = match family {
        DataType::Tabular => TABULAR.to_vec(),
        DataType::Image => IMAGE.to_vec(),
        DataType::Text => TEXT.to_vec(),
        DataType::Graph => [&TEXT[..], &GRAPH_EXTRA[..]].concat(),
        DataType::TextPairs => [&TEXT[..], &PAIRS_EXTRA[..], &REGRESSION[..]].concat(),
        DataType::Denoising => [&DENOISE[..], &REGRESSION[..]].concat(),
    };
    keys.extend_from_slice(&TRAINING);
    keys
}

/// A typed script: every key of the family's schema with a value of its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    family: DataType,
    values: Vec<(KeySpec, Value)>,
}

impl PartialEq for KeySpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// Why an edit or script text was rejected (becomes an `invalid_action`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScriptError {
    #[error("line `{0}`: expected `key = value`")]
    Syntax(String),
    #[error("unknown key `{key}` for a {family} script (keys: {known})")]
    UnknownKey {
        key: String,
        family: &'static str,
        known: String,
    },
    #[error("key `{key}`: {message}")]
    BadValue { key: String, message: String },
}

impl Script {
    /// The family's defaults.
    pub fn defaults(family: DataType) -> Self {
        let values = schema(family)
            .into_iter()
            .map(|k| {
                let v = k
                    .kind
                    .parse(k.default)
                    .expect("schema defaults parse as their kind");
                (k, v)
            })
            .collect();
        Self { family, values }
    }

    /// Parses `key = value` lines (blank lines and `#` comments skipped) over the defaults.
    pub fn parse(family: DataType, text: &str) -> Result<Self, ScriptError> {
        let mut s = Self::defaults(family);
        let mut edits = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| ScriptError::Syntax(line.to_string()))?;
            edits.push((k.trim().to_string(), v.trim().to_string()));
        }
        s.apply(&edits)?;
        Ok(s)
    }

    pub fn family(&self) -> DataType {
        self.family
    }

    /// Applies edits all-or-nothing: on any error the script is unchanged.
    pub fn apply(&mut self, edits: &[(String, String)]) -> Result<(), ScriptError> {
        let mut next = self.values.clone();
        for (key, text) in edits {
            let slot = next
                .iter_mut()
                .find(|(k, _)| k.name == key)
                .ok_or_else(|| ScriptError::UnknownKey {
                    key: key.clone(),
                    family: self.family.name(),
                    known: self
                        .values
                        .iter()
                        .map(|(k, _)| k.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            slot.1 = slot
                .0
                .kind
                .parse(text)
                .map_err(|message| ScriptError::BadValue {
                    key: key.clone(),
                    message,
                })?;
        }
        self.values = next;
        Ok(())
    }

    fn get(&self, key: &str) -> &Value {
        &self
            .values
            .iter()
            .find(|(k, _)| k.name == key)
            .unwrap_or_else(|| {
                panic!("key `{key}` is read only by code of a family whose schema has it")
            })
            .1
    }

    pub fn has(&self, key: &str) -> bool {
        self.values.iter().any(|(k, _)| k.name == key)
    }

    pub(crate) fn int(&self, key: &str) -> i64 {
        match self.get(key) {
            Value::Int(v) => *v,
            other => panic!("schema declares `{key}` as an integer, found {other:?}"),
        }
    }

    pub fn usize(&self, key: &str) -> usize {
        usize::try_from(self.int(key)).expect("integer keys have non-negative ranges")
    }

    pub fn float(&self, key: &str) -> f64 {
        match self.get(key) {
            Value::Float(v) => *v,
            other => panic!("schema declares `{key}` as a number, found {other:?}"),
        }
    }

    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            Value::Bool(v) => *v,
            other => panic!("schema declares `{key}` as a bool, found {other:?}"),
        }
    }

    pub fn choice(&self, key: &str) -> &str {
        match self.get(key) {
            Value::Choice(v) => v,
            other => panic!("schema declares `{key}` as a choice, found {other:?}"),
        }
    }

    /// The `key = value` pairs in schema order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.values.iter().map(|(k, v)| (k.name, v))
    }

    /// The keys, types and help of this script (shown by `Inspect Script`).
    pub(crate) fn describe_keys(&self) -> String {
        let mut out = String::new();
        for (k, _) in &self.values {
            let ty = match k.kind {
                Kind::Int { min, max } => format!("integer {min}..={max}"),
                Kind::Float { min, max } => format!("number in [{min}, {max}]"),
                Kind::Bool => "true | false".to_string(),
                Kind::Choice(o) => o.join(" | "),
            };
            out.push_str(&format!("# {}: {} — {}\n", k.name, ty, k.help));
        }
        out
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.values {
            writeln!(f, "{} = {}", k.name, v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FAMILIES: [DataType; 6] = DataType::ALL;

    fn value_text(kind: Kind) -> BoxedStrategy<String> {
        match kind {
            Kind::Int { min, max } => (min..=max).prop_map(|v| v.to_string()).boxed(),
            Kind::Float { min, max } => (min..=max).prop_map(|v| format!("{v:?}")).boxed(),
            Kind::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
            Kind::Choice(o) => proptest::sample::select(o.to_vec())
                .prop_map(str::to_string)
                .boxed(),
        }
    }

    #[test]
    fn every_family_has_epochs_and_learning_rate_and_defaults_render_and_parse() {
        for f in FAMILIES {
            let s = Script::defaults(f);
            assert!(s.has("epochs") && s.has("learning_rate"));
            assert_eq!(Script::parse(f, &s.to_string()).unwrap(), s);
        }
    }

    #[test]
    fn unknown_keys_and_ill_typed_values_are_rejected_without_change() {
        let mut s = Script::defaults(DataType::Tabular);
        let before = s.clone();
        let e = s.apply(&[
            ("epochs".into(), "3".into()),
            ("color".into(), "red".into()),
        ]);
        assert!(matches!(e, Err(ScriptError::UnknownKey { .. })));
        assert_eq!(s, before, "edits are all-or-nothing");
        let e = s.apply(&[("epochs".into(), "three".into())]);
        assert!(matches!(e, Err(ScriptError::BadValue { .. })));
        let e = s.apply(&[("model".into(), "cnn".into())]);
        assert!(
            matches!(e, Err(ScriptError::BadValue { .. })),
            "no cnn for tables"
        );
    }

    proptest! {
        /// Any valid edit applies, renders, and re-parses to the same script.
        #[test]
        fn edits_round_trip(fi in 0usize..6, pick in any::<proptest::sample::Index>(), seed in any::<u64>()) {
            let family = FAMILIES[fi];
            let keys = schema(family);
            let key = keys[pick.index(keys.len())];
            let mut runner = proptest::test_runner::TestRunner::new_with_rng(
                Default::default(),
                proptest::test_runner::TestRng::from_seed(
                    proptest::test_runner::RngAlgorithm::ChaCha,
                    &{ let mut b = [0u8; 32]; b[..8].copy_from_slice(&seed.to_le_bytes()); b },
                ),
            );
            let text = value_text(key.kind).new_tree(&mut runner).unwrap().current();
            let mut s = Script::defaults(family);
            s.apply(&[(key.name.to_string(), text.clone())]).unwrap();
            prop_assert_eq!(s.get(key.name), &key.kind.parse(&text).unwrap());
            prop_assert_eq!(Script::parse(family, &s.to_string()).unwrap(), s);
        }

        /// Out-of-range integers are rejected with the range in the message.
        #[test]
        fn out_of_range_epochs_rejected(v in 101i64..100_000) {
            let mut s = Script::defaults(DataType::Image);
            let e = s.apply(&[("epochs".into(), v.to_string())]).unwrap_err();
            prop_assert!(e.to_string().contains("1..=100"));
        }
    }
}
