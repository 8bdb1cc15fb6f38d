//! Compiles every `.proto` under the workspace's `proto/` once, with the
//! protoc shipped in `protoc-bin-vendored`, so a fresh machine builds with
//! cargo alone.

use std::{
    env,
    path::{Path, PathBuf},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let root = root.canonicalize()?;
    let mut files = Vec::new();
    collect(&root, &mut files)?;
    files.sort();

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    let descriptor = PathBuf::from(env::var("OUT_DIR")?).join("relais_descriptor.bin");

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // Each message knows its full name, so the codec finds its descriptor
    // and checks every request field once, for every service.
    config.enable_type_names();
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor)
        .codec_path("crate::codec::CheckedCodec")
        .compile_with_config(config, &files, &[root.clone(), include])?;

    // Relative to this package, not absolute: clones of the repo sharing
    // one CARGO_TARGET_DIR (CI does) share this script's output, and an
    // absolute path would keep watching another clone's protos.
    println!("cargo:rerun-if-changed=../../proto");
    for f in &files {
        if let Ok(rel) = f.strip_prefix(&root) {
            println!("cargo:rerun-if-changed=../../proto/{}", rel.display());
        }
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
