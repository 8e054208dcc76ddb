//! Load benchmark of the data plane (SPEC §12): the pieces behind three binaries.
//!
//! - `fake-upstream` ([`upstream`]): a minimal, fast OpenAI-compatible responder.
//! - `loadgen`: an open-loop fixed-rate mode ([`fixed`]) whose latencies count from each
//!   request's scheduled send time, so a stalled server cannot hide its queue (no
//!   coordinated omission), and a closed-loop saturation mode ([`saturate`]) with N
//!   keep-alive connections. Both record into HDR histograms ([`report`]) and print one
//!   JSON line.
//! - `bare-hop` ([`bare_hop`]): a bare pass-through proxy, the reference hop measured in
//!   the same run (SPEC §12: "aim for at least half the bare hop's throughput").
//!
//! `bench/run.sh` wires them to a control plane and a data plane and prints the summary;
//! docs/benchmarks.md has the figures.

pub mod bare_hop;
pub mod client;
pub mod fixed;
pub mod report;
pub mod saturate;
pub mod target;
pub mod upstream;
