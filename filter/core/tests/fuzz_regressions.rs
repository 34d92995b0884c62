//! The fuzz targets' committed inputs, replayed in `make test` (issue 13): every seed in
//! `fuzz/seeds/<target>/` and every kept crash in `fuzz/regressions/<target>/` goes through
//! the very function the libFuzzer binary calls (`fuzz/src/core_targets.rs`, included below),
//! so a fixed crash that comes back fails here, without a nightly or cargo-fuzz.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../fuzz/src/core_targets.rs"]
mod core_targets;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn replayed(target: &str) -> replay::Replayed {
    let (_, run) = core_targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no core fuzz target {target}"));
    let replayed = replay::replay(&fuzz_dir(), target, *run).unwrap_or_else(|e| panic!("{e}"));
    assert!(replayed.seeds >= 3, "{target}: {replayed:?}: too few seeds");
    replayed
}

#[test]
fn pem_seeds_and_crashes_replay() {
    replayed("pem");
}

#[test]
fn certificate_seeds_and_crashes_replay() {
    replayed("certificate");
}

#[test]
fn chain_seeds_and_crashes_replay() {
    replayed("chain");
}

#[test]
fn xfcc_seeds_and_crashes_replay() {
    replayed("xfcc");
}

#[test]
fn config_seeds_and_crashes_replay() {
    replayed("config");
}

#[test]
fn change_feed_seeds_and_crashes_replay() {
    replayed("change_feed");
}

#[test]
fn shared_data_seeds_and_crashes_replay() {
    replayed("shared_data");
}

#[test]
fn lookup_answer_seeds_and_crashes_replay() {
    replayed("lookup_answer");
}

/// Each fuzz binary has its function here or in the shim's (`fuzz/src/upload.rs`, replayed by
/// host-shim/tests/fuzz_regressions.rs), and each function its binary: a target added on one
/// side only fails this.
#[test]
fn every_fuzz_binary_is_replayed() {
    let mut binaries: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    binaries.sort();
    let mut replayed: Vec<String> = core_targets::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .chain(["upload".to_owned(), "private_key".to_owned()])
        .collect();
    replayed.sort();
    assert_eq!(binaries, replayed);
}
