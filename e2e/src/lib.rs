//! The test host harness: drives the sandbox of `hack/sandbox` from Rust tests.
