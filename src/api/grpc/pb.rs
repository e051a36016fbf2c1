//! The generated protobuf messages, server and client of `proto/jood/v1` (see `build.rs`).
#![allow(clippy::all, missing_docs)]

tonic::include_proto!("jood.v1");
