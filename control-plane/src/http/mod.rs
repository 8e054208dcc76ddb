//! The management REST API under `/api/policy-gateway` (SPEC §7). Being written.
