//! Generated gRPC types and services for the control plane ↔ data plane contract (SPEC §8).

#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// `policy_gateway.v1`: snapshot subscription, audit and usage reporting (`DataPlaneSync`),
/// and the management API over gRPC (`Admin`).
pub mod v1 {
    tonic::include_proto!("policy_gateway.v1");
}
