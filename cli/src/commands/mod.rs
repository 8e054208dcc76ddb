//! One module per subcommand.

pub mod apply;
pub mod eval;
pub mod history;
pub mod pull;
pub mod redact;
pub mod rollout;
pub mod simulate;
mod table;
pub mod test;
pub mod usage;
pub mod validate;
