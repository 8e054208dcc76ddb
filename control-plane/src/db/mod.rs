//! Repository: all SQL lives under this module, each file one aggregate.

pub mod config_version;
