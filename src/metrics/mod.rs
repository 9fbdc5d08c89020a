//! Evaluation metrics of the paper's 19 tasks (issue 3): not built yet.
