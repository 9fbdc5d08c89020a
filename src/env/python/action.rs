//! Actions in the Python environment, with MLAgentBench's names:
//!
//! ```text
//! Thought: <one line>
//! Action: List Files | Inspect Script Lines | Understand File | Edit Script
//!       | Undo Edit Script | Execute Script | Final Answer
//! Action Input: <one line>
//! <more lines: Edit Script's search/replace blocks>
//! ```
//!
//! MLAgentBench's Edit Script hands an instruction to a second LLM; here the agent writes the
//! edit itself as search/replace blocks (paper/PROVENANCE.md says why):
//!
//! ```text
//! Action: Edit Script
//! Action Input: train.py
//! <<<<<<< SEARCH
//! model = DecisionTreeClassifier(max_depth=1)
//! =======
//! model = DecisionTreeClassifier(max_depth=4)
//! >>>>>>> REPLACE
//! ```
//!
//! [`PyAction::parse`] and [`PyAction::render`] round-trip (tested).

/// The seven actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PyActionKind {
    ListFiles,
    InspectScriptLines,
    UnderstandFile,
    EditScript,
    UndoEditScript,
    ExecuteScript,
    FinalAnswer,
}

impl PyActionKind {
    pub const ALL: [PyActionKind; 7] = [
        PyActionKind::ListFiles,
        PyActionKind::InspectScriptLines,
        PyActionKind::UnderstandFile,
        PyActionKind::EditScript,
        PyActionKind::UndoEditScript,
        PyActionKind::ExecuteScript,
        PyActionKind::FinalAnswer,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PyActionKind::ListFiles => "List Files",
            PyActionKind::InspectScriptLines => "Inspect Script Lines",
            PyActionKind::UnderstandFile => "Understand File",
            PyActionKind::EditScript => "Edit Script",
            PyActionKind::UndoEditScript => "Undo Edit Script",
            PyActionKind::ExecuteScript => "Execute Script",
            PyActionKind::FinalAnswer => "Final Answer",
        }
    }
}

/// One search/replace block of an edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replace {
    pub search: String,
    pub replace: String,
}

/// A parsed action: its one-line input and, for Edit Script, its blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyAction {
    pub thought: String,
    pub kind: PyActionKind,
    pub input: String,
    pub blocks: Vec<Replace>,
}

/// Why an action text does not parse (the reason goes back to the agent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PyActionError {
    #[error("missing `Thought:` line")]
    MissingThought,
    #[error("missing `Action:` line after the thought")]
    MissingAction,
    #[error(
        "unknown action `{0}` (expected List Files, Inspect Script Lines, Understand File, Edit \
         Script, Undo Edit Script, Execute Script or Final Answer)"
    )]
    UnknownAction(String),
    #[error("missing `Action Input:` line")]
    MissingInput,
    #[error(
        "Edit Script needs one or more blocks after its input line: `<<<<<<< SEARCH`, the exact \
         lines to find, `=======`, the new lines, `>>>>>>> REPLACE`"
    )]
    NoBlocks,
    #[error("Edit Script block {0}: {1}")]
    BadBlock(usize, &'static str),
    #[error("unexpected text after the action: `{0}`")]
    Trailing(String),
}

const SEARCH: &str = "<<<<<<< SEARCH";
const DIVIDER: &str = "=======";
const REPLACE: &str = ">>>>>>> REPLACE";

impl PyAction {
    pub fn parse(text: &str) -> Result<Self, PyActionError> {
        let mut lines = text.trim().lines();
        let thought = lines
            .next()
            .and_then(|l| l.trim_end().strip_prefix("Thought:"))
            .ok_or(PyActionError::MissingThought)?
            .trim()
            .to_string();
        let name = lines
            .next()
            .and_then(|l| l.trim_end().strip_prefix("Action:"))
            .ok_or(PyActionError::MissingAction)?
            .trim();
        let kind = PyActionKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| PyActionError::UnknownAction(name.to_string()))?;
        let input = match lines.next() {
            None => String::new(),
            Some(l) => l
                .trim_end()
                .strip_prefix("Action Input:")
                .ok_or(PyActionError::MissingInput)?
                .trim()
                .to_string(),
        };
        let mut blocks = Vec::new();
        if kind == PyActionKind::EditScript {
            let rest: Vec<&str> = lines.collect();
            let mut i = 0;
            while i < rest.len() {
                if rest[i].trim().is_empty() {
                    i += 1;
                    continue;
                }
                let n = blocks.len() + 1;
                if rest[i].trim_end() != SEARCH {
                    return Err(PyActionError::BadBlock(n, "expected `<<<<<<< SEARCH`"));
                }
                let mut search = Vec::new();
                i += 1;
                while i < rest.len() && rest[i].trim_end() != DIVIDER {
                    search.push(rest[i]);
                    i += 1;
                }
                if i == rest.len() {
                    return Err(PyActionError::BadBlock(n, "missing `=======`"));
                }
                let mut replace = Vec::new();
                i += 1;
                while i < rest.len() && rest[i].trim_end() != REPLACE {
                    replace.push(rest[i]);
                    i += 1;
                }
                if i == rest.len() {
                    return Err(PyActionError::BadBlock(n, "missing `>>>>>>> REPLACE`"));
                }
                if search.is_empty() {
                    return Err(PyActionError::BadBlock(n, "the SEARCH part is empty"));
                }
                i += 1;
                blocks.push(Replace {
                    search: search.join("\n"),
                    replace: replace.join("\n"),
                });
            }
            if blocks.is_empty() {
                return Err(PyActionError::NoBlocks);
            }
        } else if let Some(extra) = lines.find(|l| !l.trim().is_empty()) {
            return Err(PyActionError::Trailing(extra.to_string()));
        }
        Ok(Self {
            thought,
            kind,
            input,
            blocks,
        })
    }

    /// The action's text, as [`PyAction::parse`] reads it.
    pub fn render(&self) -> String {
        let mut s = format!(
            "Thought: {}\nAction: {}\nAction Input: {}",
            self.thought,
            self.kind.name(),
            self.input
        );
        for b in &self.blocks {
            s.push_str(&format!(
                "\n{SEARCH}\n{}\n{DIVIDER}\n{}{}{REPLACE}",
                b.search,
                b.replace,
                if b.replace.is_empty() { "" } else { "\n" }
            ));
        }
        s
    }
}

/// Applies `blocks` to `script` in order; each SEARCH text must occur exactly once.
pub fn apply(script: &str, blocks: &[Replace]) -> Result<String, String> {
    let mut out = script.to_string();
    for (i, b) in blocks.iter().enumerate() {
        match out.matches(b.search.as_str()).count() {
            1 => out = out.replacen(b.search.as_str(), &b.replace, 1),
            0 => {
                return Err(format!(
                    "block {}: the SEARCH lines are not in train.py (they must match exactly, \
                     indentation included)",
                    i + 1
                ));
            }
            n => {
                return Err(format!(
                    "block {}: the SEARCH lines occur {n} times in train.py; include more lines \
                     so they occur once",
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_round_trips_and_applies() {
        let text = "Thought: deeper tree\nAction: Edit Script\nAction Input: train.py\n\
                    <<<<<<< SEARCH\n    max_depth=1,\n=======\n    max_depth=4,\n>>>>>>> REPLACE\n";
        let a = PyAction::parse(text).expect("parses");
        assert_eq!(a.kind, PyActionKind::EditScript);
        assert_eq!(a.blocks.len(), 1);
        assert_eq!(PyAction::parse(&a.render()), Ok(a.clone()));
        let script = "m = Tree(\n    max_depth=1,\n)\n";
        assert_eq!(
            apply(script, &a.blocks).as_deref(),
            Ok("m = Tree(\n    max_depth=4,\n)\n")
        );
        let deletion = PyAction {
            blocks: vec![Replace {
                search: "x = 1".into(),
                replace: String::new(),
            }],
            ..a
        };
        assert_eq!(PyAction::parse(&deletion.render()), Ok(deletion));
    }

    #[test]
    fn bad_actions_say_what_is_wrong() {
        let e = |t: &str| PyAction::parse(t).unwrap_err().to_string();
        assert!(e("Action: List Files").contains("Thought"));
        assert!(e("Thought: x\nAction: Run It").contains("unknown action"));
        assert!(e("Thought: x\nAction: Edit Script\nAction Input: train.py").contains("blocks"));
        assert!(
            e("Thought: x\nAction: Edit Script\nAction Input: train.py\n<<<<<<< SEARCH\na\n")
                .contains("=======")
        );
        assert!(e("Thought: x\nAction: List Files\nAction Input: .\nmore").contains("unexpected"));
        let twice = [Replace {
            search: "a".into(),
            replace: "b".into(),
        }];
        assert!(apply("a a", &twice).unwrap_err().contains("2 times"));
        assert!(apply("c", &twice).unwrap_err().contains("not in train.py"));
    }

    proptest::proptest! {
        /// Any text parses or gives a reason; it never panics.
        #[test]
        fn parsing_any_text_never_panics(text in "(?s).{0,300}") {
            let _ = PyAction::parse(&text);
        }
    }
}
