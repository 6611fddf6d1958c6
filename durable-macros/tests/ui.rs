//! Compile-time behaviour of the macros: what compiles, and the exact
//! diagnostics of what does not. Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p durable-lambda-macros --test ui` and review them.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
