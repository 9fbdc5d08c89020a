//! The paper side of the reproduction: the paper's Table 1 and Figure 4 as golden data
//! ([`golden`]), the result types a reproduction fills ([`results`]), the paper's claims as
//! checkable predicates with their statistics ([`claims`], [`stats`]), and the report renderers
//! ([`render`]: Markdown, standalone HTML with SVG plots, terminal text). See docs/report.md.

pub mod claims;
pub mod compare;
pub mod golden;
pub mod regression;
pub mod render;
pub mod results;
pub mod stats;
pub mod task;

pub use claims::{Check, Claim, ClaimOutcome, ClaimSet, PaperCheck, ReproCheck, Verdict, evaluate};
pub use golden::{Fidelity, PaperFigure4, PaperTable1, Provenance};
pub use render::{ReportInput, html, markdown, text_table};
pub use results::{
    AgentScores, Curve, CurvePoint, Figure4Run, ResultsTable, TaskGain, TaskResults, relative_gain,
};
pub use task::{Agent, DataType, Direction, EvalTask, Level, PaperModel, RlMethod, Split};
