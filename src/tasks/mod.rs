//! The 19 stand-in tasks and their bundled data (issue 4): not built yet.
