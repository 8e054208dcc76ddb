//! The data-plane sync service (SPEC §8). Being written.
