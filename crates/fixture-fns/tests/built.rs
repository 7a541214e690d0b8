//! Having an integration test makes `cargo test` / `cargo nextest run` build this package's
//! binaries, which the server's tests deploy as functions.

#[test]
fn the_fixture_functions_are_built() {
    assert!(std::path::Path::new(env!("CARGO_BIN_EXE_fixture-rust-echo")).exists());
}
