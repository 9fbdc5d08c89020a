//! The ML workbench the agent acts in (issue 4): not built yet.
