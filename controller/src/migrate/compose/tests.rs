//! Tests of the Compose import.
