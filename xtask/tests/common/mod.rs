//! What the end-to-end tests of the real binary share: the binary itself, and a scratch folder.

use std::path::PathBuf;
use std::process::Command;

/// The built `xtask`, one rayon thread per process so that tests running side by side do not
/// oversubscribe the cores (and numbers match a single-threaded run).
pub fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.env("RAYON_NUM_THREADS", "1");
    c
}

/// A fresh, empty folder for one test, named by the test file (`file`), this process and the
/// test (`name`), so that parallel tests and concurrent test runs never share one.
pub fn scratch(file: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nf-rl-{file}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
