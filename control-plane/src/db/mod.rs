//! Repository: all SQL lives under this module, each file one aggregate. Functions take a
//! connection (inside the caller's transaction) or any executor for plain reads.

pub mod config_version;
pub mod history;
pub mod keys;
pub mod nodes;
pub mod policies;
pub mod projects;
pub mod quota;
pub mod usage;
