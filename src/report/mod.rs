//! The paper side of the reproduction: the paper's Table 1 and Figure 4 as golden data
//! ([`golden`]), the paper's claims as checkable predicates with their statistics ([`claims`],
//! [`compare`]), regression goldens ([`regression`]) and the report renderers ([`render`]:
//! Markdown, standalone HTML with SVG plots, terminal text). The result types a reproduction
//! fills are in `results`, the vocabulary they share in `paper`, the statistics in `stats`.
//! See docs/report.md.

pub mod claims;
pub mod compare;
pub mod golden;
pub mod regression;
pub mod render;

pub use claims::{Check, Claim, ClaimOutcome, ClaimSet, PaperCheck, ReproCheck, Verdict, evaluate};
pub use golden::{Fidelity, PaperFigure4, PaperTable1, Provenance};
pub use render::{ReportInput, html, markdown, text_table};
