//! README.md's first example: the build script copies the first ```rust block of README.md
//! into this one, so what runs here is the README's text as written (tests/examples.rs runs
//! it twice).

include!(concat!(env!("OUT_DIR"), "/readme.rs"));
