//! Records what the `sim` binary was built from, so that the summaries of a
//! sweep split over several machines (`sim sweep --summary`) can be checked
//! by `sim merge` to come from the same code:
//!
//! - `SIM_BUILD_COMMIT`: `git rev-parse HEAD`, or `unknown` outside a git
//!   checkout (a source tarball) or without git;
//! - `SIM_BUILD_CARGO_LOCK`: a hash of the workspace's `Cargo.lock` (the
//!   exact dependency versions);
//! - `SIM_BUILD_SOURCES`: a hash of the sources a run depends on (the games,
//!   the harness, the built-in scenario files), which also tells apart two
//!   builds of the same commit with different uncommitted edits.
//!
//! The hashes are FNV-1a over 64 bits: they detect accidental differences
//! (another commit, an edited file), which is all a merge needs; nobody
//! forges a shard summary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the sources hash covers, relative to this crate's folder: every
/// file whose change can change what a seed does or how it is judged.
const SOURCE_ROOTS: [&str; 5] = [
    "src",
    "Cargo.toml",
    "../games/src",
    "../games/Cargo.toml",
    "../fixtures/scenarios",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));

    let lock = manifest_dir.join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let lock_hash = std::fs::read(&lock)
        .map(|bytes| hex(fnv1a(FNV_OFFSET, &bytes)))
        .unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=SIM_BUILD_CARGO_LOCK={lock_hash}");

    let mut files = Vec::new();
    for root in SOURCE_ROOTS {
        let path = manifest_dir.join(root);
        println!("cargo:rerun-if-changed={}", path.display());
        collect_files(&path, &mut files);
    }
    files.sort();
    let mut hash = FNV_OFFSET;
    for file in &files {
        let relative = file.strip_prefix(&manifest_dir).unwrap_or(file);
        hash = fnv1a(hash, relative.to_string_lossy().as_bytes());
        hash = fnv1a(hash, &[0]);
        hash = fnv1a(hash, &std::fs::read(file).unwrap_or_default());
        hash = fnv1a(hash, &[0]);
    }
    println!("cargo:rustc-env=SIM_BUILD_SOURCES={}", hex(hash));

    let commit = git(&manifest_dir, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SIM_BUILD_COMMIT={commit}");
    watch_git_head(&manifest_dir);
}

/// Asks cargo to run this script again when HEAD moves: the HEAD file of
/// this checkout (or worktree) and the one branch it points to, not every
/// branch, so another worktree's commits do not rebuild this one.
fn watch_git_head(manifest_dir: &Path) {
    let (Some(git_dir), Some(common_dir)) = (
        git(manifest_dir, &["rev-parse", "--git-dir"]),
        git(manifest_dir, &["rev-parse", "--git-common-dir"]),
    ) else {
        return;
    };
    let git_dir = manifest_dir.join(git_dir);
    let common_dir = manifest_dir.join(common_dir);
    let mut watched = vec![git_dir.join("HEAD"), common_dir.join("packed-refs")];
    if let Some(branch) = git(manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common_dir.join(branch));
    }
    for path in watched {
        // A path that does not exist would make cargo run this every time.
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_file() {
        files.push(path.to_path_buf());
    } else if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            collect_files(&entry.path(), files);
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}
