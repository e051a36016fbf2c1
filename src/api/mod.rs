//! The API edge: HTTP (axum) now, gRPC (tonic) later. Handlers parse, authenticate and
//! delegate; every layer's error becomes an [`http::ApiError`] in one place.

pub mod http;
