//! The `inputs` object of a reference case, decoded per metric. Keys:
//! `y_true`/`y_pred` (most), `y_true`/`y_score` (AUCs), `probs`/`y_true` (accuracy_argmax),
//! `n_classes` (multiclass log losses), `actual`/`predicted`/`k` (MAP@k),
//! `min_rating`/`max_rating` (fixed-range QWK). Booleans read as 0/1.

use serde_json::Value;

use super::{Metric, MetricError};

pub(crate) fn evaluate(metric: Metric, inputs: &Value) -> Result<f64, MetricError> {
    if !inputs.is_object() {
        return Err(bad("inputs", "a JSON object"));
    }
    let i = Inputs(inputs);
    match metric {
        Metric::Accuracy => {
            let (t, p) = (i.labels("y_true")?, i.labels("y_pred")?);
            let text = |v: &[Label]| v.iter().any(|l| matches!(l, Label::Text(_)));
            let number = |v: &[Label]| v.iter().any(|l| matches!(l, Label::Number(_)));
            // sklearn's unique_labels: "Mix of label input types (string and number)"
            if (text(&t) && number(&p)) || (number(&t) && text(&p)) {
                return Err(MetricError::MixedLabelTypes(
                    "y_true and y_pred mix strings and numbers".into(),
                ));
            }
            // sklearn's type_of_target: non-integral numbers are a continuous target, which
            // accuracy_score rejects.
            for (what, v) in [("y_true", &t), ("y_pred", &p)] {
                for (index, l) in v.iter().enumerate() {
                    if let Label::Number(x) = l
                        && x.fract() != 0.0
                    {
                        return Err(MetricError::NonIntegerRating {
                            what,
                            index,
                            value: *x,
                        });
                    }
                }
            }
            super::accuracy(&t, &p)
        }
        Metric::AccuracyArgmax => {
            super::accuracy_argmax(&i.matrix("probs")?, &i.indices("y_true")?)
        }
        Metric::RocAuc => super::roc_auc(&i.numbers("y_true")?, &i.numbers("y_score")?),
        Metric::MeanColumnwiseRocAuc => {
            super::mean_columnwise_roc_auc(&i.matrix("y_true")?, &i.matrix("y_score")?)
        }
        Metric::MeanColumnwiseRocAucJigsaw => {
            super::mean_columnwise_roc_auc_jigsaw(&i.matrix("y_true")?, &i.matrix("y_score")?)
        }
        Metric::LogLossBinary => {
            super::log_loss_binary(&i.numbers("y_true")?, &i.numbers("y_pred")?)
        }
        Metric::LogLossBinaryLegacy => {
            super::log_loss_binary_legacy(&i.numbers("y_true")?, &i.numbers("y_pred")?)
        }
        Metric::LogLossMulticlass => {
            let p = i.matrix("y_pred")?;
            let n_classes = i.optional_count("n_classes")?;
            if let (Some(k), Some(row)) = (n_classes, p.first())
                && row.len() != k
            {
                return Err(MetricError::LengthMismatch {
                    left: "y_pred columns",
                    left_len: row.len(),
                    right: "n_classes",
                    right_len: k,
                });
            }
            super::log_loss_multiclass(&i.indices("y_true")?, &p)
        }
        Metric::LogLossMulticlassLegacy => {
            let p = i.matrix("y_pred")?;
            let k = match i.optional_count("n_classes")? {
                Some(k) => k,
                None => p.first().map_or(0, Vec::len),
            };
            super::log_loss_multiclass_legacy(&i.indices("y_true")?, &p, k)
        }
        Metric::Mae => super::mae(&i.numbers("y_true")?, &i.numbers("y_pred")?),
        Metric::Rmse => super::rmse(&i.numbers("y_true")?, &i.numbers("y_pred")?),
        Metric::Rmsle => super::rmsle(&i.numbers("y_true")?, &i.numbers("y_pred")?),
        Metric::MeanColumnwiseRmsle => {
            super::mean_columnwise_rmsle(&i.matrix("y_true")?, &i.matrix("y_pred")?)
        }
        Metric::Mcrmse => super::mcrmse(&i.matrix("y_true")?, &i.matrix("y_pred")?),
        Metric::MapAt5 => {
            // The case's own k is honoured (the whale grader uses 5, the default).
            let k = i.optional_count("k")?.unwrap_or(5);
            super::map_at_k(&i.strings("actual")?, &i.strings("predicted")?, k)
        }
        Metric::Qwk => super::qwk(&i.numbers("y_true")?, &i.numbers("y_pred")?),
        Metric::QwkFixedRange => super::qwk_fixed_range(
            &i.numbers("y_true")?,
            &i.numbers("y_pred")?,
            i.integer("min_rating")?,
            i.integer("max_rating")?,
        ),
        Metric::Pearson => super::pearson(&i.numbers("y_true")?, &i.numbers("y_pred")?),
    }
}

fn bad(field: &str, expected: &str) -> MetricError {
    MetricError::BadInput {
        field: field.to_string(),
        expected: expected.to_string(),
    }
}

/// A label for accuracy: numbers (and booleans, as 0/1) compare by value, strings by text.
#[derive(Clone, Debug, PartialEq)]
enum Label {
    Number(f64),
    Text(String),
}

struct Inputs<'a>(&'a Value);

impl Inputs<'_> {
    fn get(&self, key: &str) -> Result<&Value, MetricError> {
        self.0
            .get(key)
            .ok_or_else(|| bad(key, "a value (the key is missing)"))
    }

    fn array(&self, key: &str) -> Result<&Vec<Value>, MetricError> {
        self.get(key)?
            .as_array()
            .ok_or_else(|| bad(key, "a JSON array"))
    }

    fn numbers(&self, key: &str) -> Result<Vec<f64>, MetricError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| number(v).ok_or_else(|| bad(&format!("{key}[{i}]"), "a number")))
            .collect()
    }

    fn matrix(&self, key: &str) -> Result<Vec<Vec<f64>>, MetricError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row
                    .as_array()
                    .ok_or_else(|| bad(&format!("{key}[{i}]"), "an array of numbers (a row)"))?;
                row.iter()
                    .enumerate()
                    .map(|(j, v)| {
                        number(v).ok_or_else(|| bad(&format!("{key}[{i}][{j}]"), "a number"))
                    })
                    .collect()
            })
            .collect()
    }

    fn indices(&self, key: &str) -> Result<Vec<usize>, MetricError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                count(v).ok_or_else(|| bad(&format!("{key}[{i}]"), "a non-negative integer"))
            })
            .collect()
    }

    fn strings(&self, key: &str) -> Result<Vec<Vec<String>>, MetricError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row
                    .as_array()
                    .ok_or_else(|| bad(&format!("{key}[{i}]"), "an array of strings"))?;
                row.iter()
                    .enumerate()
                    .map(|(j, v)| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad(&format!("{key}[{i}][{j}]"), "a string"))
                    })
                    .collect()
            })
            .collect()
    }

    fn labels(&self, key: &str) -> Result<Vec<Label>, MetricError> {
        let labels: Vec<Label> = self
            .array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(Label::Text(s.clone())),
                other => number(other).map(Label::Number).ok_or_else(|| {
                    bad(
                        &format!("{key}[{i}]"),
                        "a label (number, boolean or string)",
                    )
                }),
            })
            .collect::<Result<_, _>>()?;
        let texts = labels
            .iter()
            .filter(|l| matches!(l, Label::Text(_)))
            .count();
        if texts != 0 && texts != labels.len() {
            return Err(MetricError::MixedLabelTypes(format!(
                "{key} mixes strings and numbers"
            )));
        }
        Ok(labels)
    }

    fn optional_count(&self, key: &str) -> Result<Option<usize>, MetricError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => count(v)
                .map(Some)
                .ok_or_else(|| bad(key, "a non-negative integer")),
        }
    }

    fn integer(&self, key: &str) -> Result<i64, MetricError> {
        let v = self.get(key)?;
        v.as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .map(|x| x as i64)
            })
            .ok_or_else(|| bad(key, "an integer"))
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn count(v: &Value) -> Option<usize> {
    if let Some(u) = v.as_u64() {
        return usize::try_from(u).ok();
    }
    v.as_f64()
        .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x < 9.0e15)
        .map(|x| x as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accuracy_compares_numbers_by_value() {
        let v = json!({"y_true": [1, 2, true], "y_pred": [1.0, 3.0, 1]});
        assert!((evaluate(Metric::Accuracy, &v).unwrap() - 2.0 / 3.0).abs() < 1e-15);
        let continuous = json!({"y_true": [1, 2], "y_pred": [1.0, 2.5]});
        assert!(matches!(
            evaluate(Metric::Accuracy, &continuous),
            Err(MetricError::NonIntegerRating { .. })
        ));
        let mixed = json!({"y_true": ["a", 1], "y_pred": ["a", 1]});
        assert!(matches!(
            evaluate(Metric::Accuracy, &mixed),
            Err(MetricError::MixedLabelTypes(_))
        ));
        let across = json!({"y_true": [1, 2], "y_pred": ["1", "2"]});
        assert!(matches!(
            evaluate(Metric::Accuracy, &across),
            Err(MetricError::MixedLabelTypes(_))
        ));
        let words = json!({"y_true": ["cat", "dog"], "y_pred": ["cat", "cat"]});
        assert_eq!(evaluate(Metric::Accuracy, &words), Ok(0.5));
    }

    #[test]
    fn missing_and_malformed_fields_name_the_field() {
        let err = evaluate(Metric::Rmse, &json!({"y_true": [1.0]})).unwrap_err();
        assert!(err.to_string().contains("y_pred"), "{err}");
        let err = evaluate(Metric::Rmse, &json!({"y_true": [1.0], "y_pred": ["x"]})).unwrap_err();
        assert!(err.to_string().contains("y_pred[0]"), "{err}");
        assert!(evaluate(Metric::Rmse, &json!([1, 2])).is_err());
    }
}
