//! The API edge: HTTP (axum) and gRPC (tonic). Handlers parse, authenticate and delegate;
//! every layer's error becomes an [`http::ApiError`] in one place, which knows both its HTTP
//! status and its gRPC code.

pub mod console;
pub mod grpc;
pub mod http;
