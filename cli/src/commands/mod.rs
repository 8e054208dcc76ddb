//! One module per subcommand.

pub mod eval;
pub mod redact;
pub mod test;
pub mod validate;
