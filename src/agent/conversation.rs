//! Trajectories as conversations, in the ShareGPT format LLaMA-Factory reads:
//! `{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}, ...]}`.
//! Human turns carry the task, the script and the feedback; gpt turns carry the actions. A
//! conversation starts with a human turn and ends with a gpt turn (LLaMA-Factory drops
//! conversations with an odd number of turns), and turns alternate.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The environment: task description, script, feedback.
    Human,
    /// The agent: `Thought: ...` / `Action: ...` / `Action Input: ...`.
    Gpt,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    pub from: Role,
    pub value: String,
}

impl Turn {
    pub fn human(value: impl Into<String>) -> Self {
        Self {
            from: Role::Human,
            value: value.into(),
        }
    }
    pub fn gpt(value: impl Into<String>) -> Self {
        Self {
            from: Role::Gpt,
            value: value.into(),
        }
    }
}

/// One ShareGPT record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    pub conversations: Vec<Turn>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Conversation {
    /// Checks the shape LLaMA-Factory needs: non-empty, starts human, alternates, ends gpt.
    pub(crate) fn check_shape(&self) -> Result<(), String> {
        let t = &self.conversations;
        if t.is_empty() {
            return Err("expected at least one human and one gpt turn, found none".into());
        }
        for (i, turn) in t.iter().enumerate() {
            let want = if i.is_multiple_of(2) {
                Role::Human
            } else {
                Role::Gpt
            };
            if turn.from != want {
                return Err(format!(
                    "turn {i}: expected a {want:?} turn, found {:?} (turns must alternate, starting with human)",
                    turn.from
                ));
            }
        }
        if !t.len().is_multiple_of(2) {
            return Err("expected the last turn to be a gpt turn (an even number of turns)".into());
        }
        Ok(())
    }
}

/// Writes conversations as JSON lines (one record per line, fixed field order).
pub(crate) fn write_jsonl(w: &mut dyn Write, convs: &[Conversation]) -> std::io::Result<()> {
    for c in convs {
        serde_json::to_writer(&mut *w, c)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads and shape-checks a `trajectories.jsonl`, naming the file and line of any problem.
pub fn read_jsonl(path: &Path) -> Result<Vec<Conversation>, ConversationError> {
    let f = std::fs::File::open(path).map_err(|source| ConversationError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let bad = |message: String| ConversationError::Malformed {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let c: Conversation = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        c.check_shape().map_err(bad)?;
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharegpt_shape_and_round_trip() {
        let c = Conversation {
            conversations: vec![Turn::human("task"), Turn::gpt("Action: Inspect Script")],
        };
        c.check_shape().unwrap();
        let mut buf = Vec::new();
        write_jsonl(&mut buf, std::slice::from_ref(&c)).unwrap();
        assert_eq!(
            String::from_utf8(buf.clone()).unwrap(),
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"task\"},{\"from\":\"gpt\",\"value\":\"Action: Inspect Script\"}]}\n"
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        std::fs::write(&p, &buf).unwrap();
        assert_eq!(read_jsonl(&p).unwrap(), vec![c]);
    }

    #[test]
    fn odd_or_misordered_conversations_are_rejected_with_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        std::fs::write(
            &p,
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"a\"},{\"from\":\"gpt\",\"value\":\"b\"}]}\n{\"conversations\":[{\"from\":\"human\",\"value\":\"a\"}]}\n",
        )
        .unwrap();
        let e = read_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("t.jsonl:2:"), "{e}");
        let gpt_first = Conversation {
            conversations: vec![Turn::gpt("x"), Turn::human("y")],
        };
        assert!(gpt_first.check_shape().is_err());
    }
}
