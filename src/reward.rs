//! The agentic ML-specific reward (issue 3): not built yet.
