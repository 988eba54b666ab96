//! The macros' compile-time behaviour: every mistake in `ui/*.rs` fails with the error in
//! its `.stderr` snapshot (one mistake, one error, on the user's token), and the programs
//! in `ui/pass/` compile. Snapshots are taken with the toolchain CI uses:
//! `TRYBUILD=overwrite cargo test -p zart-tests --test compile` rewrites them.

#[test]
fn macro_diagnostics() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/*.rs");
}
