//! Where the binaries under test are.
//!
//! Cargo gives `CARGO_BIN_EXE_*` only for a package's own binaries, so the control plane
//! and the data plane are found next to this test executable: it lives in
//! `target/<profile>/deps/`, they in `target/<profile>/`. `cargo test --workspace` builds
//! them first because their packages have integration tests.

use std::path::PathBuf;

/// `target/<profile>/control-plane`.
pub fn control_plane() -> PathBuf {
    binary("control-plane")
}

/// `target/<profile>/data-plane`.
pub fn data_plane() -> PathBuf {
    binary("data-plane")
}

fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/e2e-<hash> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p control-plane -p data-plane` (with the same \
         CARGO_TARGET_DIR and profile as the tests) first",
        path.display()
    );
    path
}
