//! Generates the gRPC messages, server and client from `proto/` (no system `protoc`: protox
//! parses the protos in Rust and hands tonic-prost-build a file descriptor set).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/jood/v1/notifications.proto"];
    let fds = protox::compile(protos, ["proto"])?;
    // The codec maps undecodable requests to INVALID_ARGUMENT (see src/api/grpc/codec.rs).
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::api::grpc::codec::Codec")
        .compile_fds(fds)?;
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
