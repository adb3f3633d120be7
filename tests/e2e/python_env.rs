//! A Python virtual environment with real client packages from PyPI, made by
//! the tests themselves on first use and kept in a cache directory
//! (`$OSPREY_TEST_VENV`, else `$HOME/.cache/osprey-test-venv`), so later runs
//! only check that the packages import.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;

/// The venv's `python` with `packages` (pip specs) importable as `modules`.
/// Panics with pip's output when they cannot be installed: a test that needs
/// them cannot pass without them.
pub fn python_with(packages: &[&str], modules: &[&str]) -> PathBuf {
    let dir = std::env::var_os("OSPREY_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        home.join(".cache/osprey-test-venv")
    });
    let python = dir.join("bin/python");
    let imports = format!("import {}", modules.join(", "));
    if imports_ok(&python, &imports) {
        return python;
    }
    std::fs::create_dir_all(dir.parent().expect("venv dir has a parent")).expect("create the cache dir");
    // One installer at a time across test processes; the others wait, then find it done.
    let lock = File::create(dir.with_extension("lock")).expect("create the venv lock file");
    lock.lock().expect("lock the venv");
    if !imports_ok(&python, &imports) {
        if !imports_ok(&python, "import sys") {
            // Missing, or left broken (e.g. its base interpreter is gone): make it anew.
            run(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&dir), "python3 -m venv");
        }
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .args(packages),
            "pip install",
        );
        assert!(imports_ok(&python, &imports), "{imports} still fails in {} after pip install", dir.display());
    }
    python
}

fn imports_ok(python: &PathBuf, imports: &str) -> bool {
    python.exists() && Command::new(python).args(["-c", imports]).output().is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run ({e}); is python3 installed?"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
