//! The vocabulary shared by the paper's tables and this code's results: the 13 evaluation tasks,
//! metric direction, split, aggregation level, the paper's model columns and this code's agents.
//! Identifiers are the kebab-case strings used in files; the enums make misspellings impossible
//! past the loader.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::metrics::Direction;

/// Held-in tasks are the RL training tasks; held-out tasks are never trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Split {
    HeldIn,
    HeldOut,
}

impl Split {
    pub const ALL: [Split; 2] = [Split::HeldIn, Split::HeldOut];

    pub fn label(self) -> &'static str {
        match self {
            Split::HeldIn => "held-in",
            Split::HeldOut => "held-out",
        }
    }
}

/// The two rows per task in Table 1: mean of the 8 trajectory scores, and the best of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    Avg,
    Best,
}

impl Level {
    pub const ALL: [Level; 2] = [Level::Avg, Level::Best];

    pub fn label(self) -> &'static str {
        match self {
            Level::Avg => "avg",
            Level::Best => "best",
        }
    }
}

/// The data modality of a task (Table 1 groups tasks by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Modality {
    Image,
    Tabular,
    Text,
}

/// The two RL schemes compared in Figure 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RlMethod {
    StepWise,
    EpisodeWise,
}

impl RlMethod {
    pub fn label(self) -> &'static str {
        match self {
            RlMethod::StepWise => "step-wise RL",
            RlMethod::EpisodeWise => "episode-wise RL",
        }
    }
}

/// Error for an identifier that names no known task, agent or model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{given}`; expected one of: {expected}")]
pub struct UnknownId {
    pub kind: &'static str,
    pub given: String,
    pub expected: String,
}

macro_rules! id_enum {
    ($(#[$m:meta])* $name:ident, $kind:literal { $($(#[$vm:meta])* $var:ident => $id:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in the canonical (paper's) order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The identifier used in files and reports.
            pub fn id(self) -> &'static str {
                match self { $($name::$var => $id),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownId;
            fn from_str(s: &str) -> Result<Self, UnknownId> {
                match s {
                    $($id => Ok($name::$var),)+
                    _ => Err(UnknownId {
                        kind: $kind,
                        given: s.to_string(),
                        expected: [$($id),+].join(", "),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownId;
            fn try_from(s: String) -> Result<Self, UnknownId> { s.parse() }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String { v.id().to_string() }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.id()) }
        }
    };
}

id_enum!(
    /// The 13 evaluation tasks of Table 1 (3 held-in, 10 held-out), by this project's task id.
    EvalTask, "evaluation task" {
        Cifar10 => "cifar-10",
        HousePrice => "house-price",
        Feedback => "feedback",
        Denoising => "denoising",
        Leaf => "leaf",
        Statoil => "statoil",
        Whale => "whale",
        EssayScoring => "essay-scoring",
        DetectingInsults => "detecting-insults",
        SpookyAuthor => "spooky-author",
        JigsawToxic => "jigsaw-toxic",
        UsPatent => "us-patent",
        TabularDec2021 => "tabular-dec-2021",
    }
);

impl EvalTask {
    /// The short name Table 1 prints (the first column of `table1.csv`).
    pub(crate) fn paper_name(self) -> &'static str {
        match self {
            EvalTask::Cifar10 => "cifar-10",
            EvalTask::HousePrice => "house-price",
            EvalTask::Feedback => "feedback",
            EvalTask::Denoising => "denoising-dirty-documents",
            EvalTask::Leaf => "leaf-classification",
            EvalTask::Statoil => "statoil-iceberg-classifier-challenge",
            EvalTask::Whale => "whale-categorization-playground",
            EvalTask::EssayScoring => "learning-agency-lab-automated-essay-scoring-2",
            EvalTask::DetectingInsults => "detecting-insults-in-social-commentary",
            EvalTask::SpookyAuthor => "spooky-author-identification",
            EvalTask::JigsawToxic => "jigsaw-toxic-comment-classification-challenge",
            EvalTask::UsPatent => "us-patent-phrase-to-phrase-matching",
            EvalTask::TabularDec2021 => "tabular-playground-series-dec-2021",
        }
    }

    pub fn from_paper_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.paper_name() == name)
    }

    /// Held-in: cifar-10, house-price, feedback (among the 9 RL training tasks); the rest held-out.
    pub fn split(self) -> Split {
        match self {
            EvalTask::Cifar10 | EvalTask::HousePrice | EvalTask::Feedback => Split::HeldIn,
            _ => Split::HeldOut,
        }
    }

    /// The direction of the task's metric (Table 1's metric; the stand-in keeps it).
    pub fn direction(self) -> Direction {
        match self {
            EvalTask::HousePrice
            | EvalTask::Feedback
            | EvalTask::Denoising
            | EvalTask::Leaf
            | EvalTask::Statoil
            | EvalTask::SpookyAuthor => Direction::LowerIsBetter,
            _ => Direction::HigherIsBetter,
        }
    }

    pub fn in_split(split: Split) -> impl Iterator<Item = EvalTask> {
        Self::ALL
            .iter()
            .copied()
            .filter(move |t| t.split() == split)
    }
}

id_enum!(
    /// The six columns of Table 1.
    PaperModel, "paper column" {
        Qwen7b => "qwen2.5-7b-instruct",
        Qwen32b => "qwen2.5-32b-instruct",
        Gpt4oMini => "gpt-4o-mini",
        Gpt4o => "gpt-4o",
        DeepseekR1 => "deepseek-r1",
        MlAgent => "ml-agent",
    }
);

impl PaperModel {
    /// The five baselines (every column except ML-Agent).
    pub(crate) const BASELINES: [PaperModel; 5] = [
        PaperModel::Qwen7b,
        PaperModel::Qwen32b,
        PaperModel::Gpt4oMini,
        PaperModel::Gpt4o,
        PaperModel::DeepseekR1,
    ];
}

id_enum!(
    /// The agents this code evaluates (docs/report.md).
    Agent, "agent" {
        /// Uniformly random valid actions: the floor.
        Random => "random",
        /// The expert agent without exploration-enriching ideas at its first step.
        NonEnrichedExpert => "non-enriched-expert",
        /// The teacher whose trajectories the policy is fine-tuned on.
        Expert => "expert",
        /// The policy after exploration-enriched fine-tuning only.
        Sft => "sft",
        /// SFT + step-wise RL: the method of the paper.
        MlAgent => "ml-agent",
        /// SFT + episode-wise RL: Figure 4's comparison.
        MlAgentEpisode => "ml-agent-episode",
    }
);

impl Agent {
    /// What the agent stands for beside the paper's Table 1 (docs/report.md).
    pub(crate) fn stands_for(self) -> &'static str {
        match self {
            Agent::Random => {
                "uniformly random actions over the script's schema (mostly edits, a Final \
                 Answer by chance): random search, a strong baseline in its own right, not the analogue of the untrained Qwen2.5-7B column \
                 (an untrained LLM in the scaffold inspects, stops early and writes malformed \
                 actions); an instruction-tuned LLM through the API agent is that analogue"
            }
            Agent::NonEnrichedExpert => {
                "a scripted agent without exploration-enriching ideas: the analogue of a \
                 prompted, competent but unexplorative LLM agent (the larger baselines' role)"
            }
            Agent::Expert => {
                "the teacher whose trajectories SFT imitates (no paper column): what imitation \
                 alone could reach"
            }
            Agent::Sft => {
                "the policy after exploration-enriched fine-tuning only (the paper's SFT \
                 ablation): the start RL is measured from"
            }
            Agent::MlAgent => "SFT + step-wise RL: the paper's ML-Agent column",
            Agent::MlAgentEpisode => {
                "SFT + episode-wise RL: Figure 4's comparison (no Table 1 column)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_is_named() {
        for t in EvalTask::ALL {
            assert_eq!(t.id().parse::<EvalTask>().unwrap(), *t);
            assert_eq!(EvalTask::from_paper_name(t.paper_name()), Some(*t));
        }
        for a in Agent::ALL {
            assert_eq!(a.id().parse::<Agent>().unwrap(), *a);
        }
        let e = "cifar10".parse::<EvalTask>().unwrap_err().to_string();
        assert!(e.contains("cifar10") && e.contains("cifar-10"), "{e}");
        assert_eq!(EvalTask::in_split(Split::HeldIn).count(), 3);
        assert_eq!(EvalTask::in_split(Split::HeldOut).count(), 10);
    }

    #[test]
    fn best_respects_direction() {
        assert_eq!(Direction::HigherIsBetter.best(&[1.0, 3.0, 2.0]), Some(3.0));
        assert_eq!(Direction::LowerIsBetter.best(&[1.0, 3.0, 0.5]), Some(0.5));
        assert_eq!(Direction::LowerIsBetter.best(&[]), None);
        assert!(Direction::LowerIsBetter.is_better(0.1, 0.2));
        assert!(!Direction::HigherIsBetter.is_better(0.2, 0.2));
    }
}
