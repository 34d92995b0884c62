//! The upload fuzz target's committed inputs, replayed in `make test` (issue 13): every seed
//! in `fuzz/seeds/upload/` and every kept crash in `fuzz/regressions/upload/` goes through the
//! function the libFuzzer binary calls (`fuzz/src/upload.rs`, included below).

#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[path = "../../fuzz/src/upload.rs"]
mod upload;

#[test]
fn upload_seeds_and_crashes_replay() {
    let fuzz_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for (target, run) in upload::TARGETS {
        let replayed = replay::replay(&fuzz_dir, target, *run).unwrap_or_else(|e| panic!("{e}"));
        assert!(replayed.seeds >= 3, "{target}: {replayed:?}: too few seeds");
    }
}
