//! Agent actions in the MLAgentBench style the paper's agent uses:
//!
//! ```text
//! Thought: <one line>
//! Action: Edit Script | Inspect Script | Understand Data | Final Answer
//! Action Input: key = value; key = value
//! ```
//!
//! [`Action::parse`] and [`Action::render`] round-trip (property-tested).

use std::fmt;

/// The four actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    EditScript,
    InspectScript,
    UnderstandData,
    FinalAnswer,
}

impl ActionKind {
    pub const ALL: [ActionKind; 4] = [
        ActionKind::EditScript,
        ActionKind::InspectScript,
        ActionKind::UnderstandData,
        ActionKind::FinalAnswer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ActionKind::EditScript => "Edit Script",
            ActionKind::InspectScript => "Inspect Script",
            ActionKind::UnderstandData => "Understand Data",
            ActionKind::FinalAnswer => "Final Answer",
        }
    }
}

/// A parsed action. For `Edit Script` the input is a list of `(key, value)` edits; other
/// actions keep their input as free text (may be empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub thought: String,
    pub kind: ActionKind,
    pub edits: Vec<(String, String)>,
    pub input: String,
}

/// Why an action text does not parse (the reason goes back to the agent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("missing `Thought:` line")]
    MissingThought,
    #[error("missing `Action:` line after the thought")]
    MissingAction,
    #[error(
        "unknown action `{0}` (expected Edit Script, Inspect Script, Understand Data or Final Answer)"
    )]
    UnknownAction(String),
    #[error("Edit Script needs `Action Input: key = value; key = value`")]
    MissingInput,
    #[error("edit `{0}`: expected `key = value`")]
    BadEdit(String),
    #[error("unexpected text after the action: `{0}`")]
    Trailing(String),
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Action {
    /// Parses an action text. Leading and trailing blank lines are ignored.
    pub fn parse(text: &str) -> Result<Self, ActionError> {
        let mut lines = text.trim().lines().map(str::trim_end);
        let thought = lines
            .next()
            .and_then(|l| l.strip_prefix("Thought:"))
            .ok_or(ActionError::MissingThought)?
            .trim()
            .to_string();
        let name = lines
            .next()
            .and_then(|l| l.strip_prefix("Action:"))
            .ok_or(ActionError::MissingAction)?
            .trim();
        let kind = ActionKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| ActionError::UnknownAction(name.to_string()))?;
        let input = match lines.next() {
            None => None,
            Some(l) => Some(
                l.strip_prefix("Action Input:")
                    .ok_or_else(|| ActionError::Trailing(l.to_string()))?
                    .trim()
                    .to_string(),
            ),
        };
        if let Some(extra) = lines.find(|l| !l.trim().is_empty()) {
            return Err(ActionError::Trailing(extra.to_string()));
        }
        let mut edits = Vec::new();
        let input = input.unwrap_or_default();
        if kind == ActionKind::EditScript {
            if input.is_empty() {
                return Err(ActionError::MissingInput);
            }
            for part in input.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = part
                    .split_once('=')
                    .ok_or_else(|| ActionError::BadEdit(part.to_string()))?;
                let (k, v) = (k.trim(), v.trim());
                if !is_key(k) || v.is_empty() || v.contains('=') {
                    return Err(ActionError::BadEdit(part.to_string()));
                }
                edits.push((k.to_string(), v.to_string()));
            }
            if edits.is_empty() {
                return Err(ActionError::MissingInput);
            }
            return Ok(Self {
                thought,
                kind,
                edits,
                input: String::new(),
            });
        }
        Ok(Self {
            thought,
            kind,
            edits,
            input,
        })
    }

    /// An `Edit Script` of `edits` (`key = value` pairs, applied in order).
    pub fn edit(thought: &str, edits: Vec<(String, String)>) -> Self {
        Action {
            thought: thought.to_string(),
            kind: ActionKind::EditScript,
            edits,
            input: String::new(),
        }
    }

    /// Any other action, with its free-text input.
    pub fn other(thought: &str, kind: ActionKind, input: &str) -> Self {
        Action {
            thought: thought.to_string(),
            kind,
            edits: Vec::new(),
            input: input.to_string(),
        }
    }

    /// The text of this action, the one writer of action text (agents build `Action` values);
    /// `parse(render(a)) == a` for every well-formed action. No trailing newline: these bytes
    /// are what the teachers' conversations hold and what the policy learns to write.
    pub fn render(&self) -> String {
        let input = if self.kind == ActionKind::EditScript {
            self.edits
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            self.input.clone()
        };
        if input.is_empty() {
            format!("Thought: {}\nAction: {}", self.thought, self.kind.name())
        } else {
            format!(
                "Thought: {}\nAction: {}\nAction Input: {}",
                self.thought,
                self.kind.name(),
                input
            )
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_design_example() {
        let a = Action::parse(
            "Thought: the model underfits; add a hidden layer\nAction: Edit Script\nAction Input: model = mlp; hidden = 128\n",
        )
        .unwrap();
        assert_eq!(a.kind, ActionKind::EditScript);
        assert_eq!(a.thought, "the model underfits; add a hidden layer");
        assert_eq!(
            a.edits,
            vec![
                ("model".into(), "mlp".into()),
                ("hidden".into(), "128".into())
            ]
        );
    }

    #[test]
    fn rejects_malformed_actions_with_a_reason() {
        assert_eq!(
            Action::parse("Action: Final Answer"),
            Err(ActionError::MissingThought)
        );
        assert_eq!(Action::parse("Thought: x"), Err(ActionError::MissingAction));
        assert!(matches!(
            Action::parse("Thought: x\nAction: Run Script"),
            Err(ActionError::UnknownAction(_))
        ));
        assert_eq!(
            Action::parse("Thought: x\nAction: Edit Script"),
            Err(ActionError::MissingInput)
        );
        assert!(matches!(
            Action::parse("Thought: x\nAction: Edit Script\nAction Input: epochs 3"),
            Err(ActionError::BadEdit(_))
        ));
        assert!(matches!(
            Action::parse("Thought: x\nAction: Inspect Script\nAction Input: \nmore"),
            Err(ActionError::Trailing(_))
        ));
    }

    fn line() -> impl Strategy<Value = String> {
        "[ -~]{0,40}".prop_map(|s| s.trim().to_string())
    }

    fn action() -> impl Strategy<Value = Action> {
        let edit = ("[a-z_][a-z0-9_]{0,12}", "[!-:<>-~][ -:<>-~]{0,10}")
            .prop_map(|(k, v)| (k, v.trim().replace(';', ",")))
            .prop_filter("value must be non-empty", |(_, v)| !v.is_empty());
        (
            line(),
            0usize..4,
            proptest::collection::vec(edit, 1..5),
            line(),
        )
            .prop_map(|(thought, k, edits, input)| {
                let kind = ActionKind::ALL[k];
                if kind == ActionKind::EditScript {
                    Action {
                        thought,
                        kind,
                        edits,
                        input: String::new(),
                    }
                } else {
                    Action {
                        thought,
                        kind,
                        edits: vec![],
                        input,
                    }
                }
            })
    }

    proptest! {
        #[test]
        fn render_then_parse_is_identity(a in action()) {
            prop_assert_eq!(Action::parse(&a.render()).unwrap(), a);
        }

        /// Parsing never panics, and whatever parses re-renders to text that parses the same.
        #[test]
        fn parse_then_render_is_stable(text in "(Thought:|Action:|Action Input:|Edit Script|=|;|[ -~]|\n){0,80}") {
            if let Ok(a) = Action::parse(&text) {
                prop_assert_eq!(Action::parse(&a.render()).unwrap(), a);
            }
        }
    }
}
