//! The Qwen2-architecture policy model (issue 5): not built yet.
