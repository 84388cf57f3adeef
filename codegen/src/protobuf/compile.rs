//! One run of protox and prost-build over a set of `.proto` files: see
//! [the module docs](super).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use protox::prost_reflect::prost::Message;
use protox::prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};

use super::{Options, Output, Package, load, service};
use crate::Error;

/// Parses `roots` (and what they import, searched in `include_dirs`, then
/// in each root's own folder, then among protox's bundled
/// `google/protobuf/*.proto`) and generates the Rust of every package.
pub(super) fn generate(
    roots: &[PathBuf],
    include_dirs: &[PathBuf],
    opts: &Options,
) -> Result<Output, Error> {
    let loaded = load::load(roots, include_dirs)?;

    let mut config = prost_build::Config::new();
    config.prost_path(opts.prost_path.clone());
    // `bytes` fields as `Bytes`, as Thrift's `binary`: decoded from the
    // engine's buffers without a copy.
    config.bytes(["."]);
    match &opts.prost_types_path {
        Some(p) => {
            config.prost_types_path(p.clone());
        }
        None => {
            config.compile_well_known_types();
        }
    }
    let services = Rc::new(RefCell::new(Vec::new()));
    if opts.grpc_path.is_some() {
        config.service_generator(Box::new(service::Collector(Rc::clone(&services))));
    }

    // Files in protox's order (each after what it imports); a package's
    // module lists its files in that order too.
    let mut order: Vec<prost_build::Module> = Vec::new();
    let mut files: BTreeMap<prost_build::Module, Vec<PathBuf>> = BTreeMap::new();
    let mut requests = Vec::new();
    let all = loaded.fds.file.clone();
    for (file, fd) in loaded.files.iter().zip(loaded.fds.file) {
        let module = prost_build::Module::from_protobuf_package_name(fd.package());
        if !files.contains_key(&module) {
            order.push(module.clone());
        }
        files
            .entry(module.clone())
            .or_default()
            .push(file.path.clone());
        requests.push((module, fd));
    }
    let mut code = config
        .generate(requests)
        .map_err(|e| Error::InvalidOption {
            message: format!("prost-build: {e}"),
        })?;
    drop(config);

    let services = Rc::try_unwrap(services)
        .map(RefCell::into_inner)
        .unwrap_or_default();
    let mut packages = Vec::new();
    for module in order {
        let prost_code = code.remove(&module).unwrap_or_default();
        let package_services: Vec<&prost_build::Service> = services
            .iter()
            .filter(|s| prost_build::Module::from_protobuf_package_name(&s.package) == module)
            .collect();
        let module_files = files.remove(&module).unwrap_or_default();
        if prost_code.trim().is_empty() && package_services.is_empty() {
            // Every type is taken from elsewhere (the well-known types with
            // `prost_types_path`): nothing to write.
            continue;
        }
        let descriptors = (!package_services.is_empty() && opts.grpc_path.is_some())
            .then(|| descriptor_set(&all, &module));
        let code = service::module_code(
            &prost_code,
            &package_services,
            &module_files,
            descriptors.as_deref(),
            opts,
        )?;
        packages.push(Package {
            module: module.parts().map(str::to_owned).collect(),
            files: module_files,
            code,
        });
    }
    Ok(Output {
        packages,
        read: loaded.read,
    })
}

/// The encoded `FileDescriptorSet` of a package's files and every file they
/// import, transitively (what a reflection service answers with), without
/// source locations and comments: the descriptors a server needs, not the
/// `.proto` text's layout.
fn descriptor_set(all: &[FileDescriptorProto], module: &prost_build::Module) -> Vec<u8> {
    let mut wanted: Vec<&str> = all
        .iter()
        .filter(|f| &prost_build::Module::from_protobuf_package_name(f.package()) == module)
        .map(|f| f.name())
        .collect();
    let mut i = 0;
    while i < wanted.len() {
        if let Some(f) = all.iter().find(|f| f.name() == wanted[i]) {
            for d in &f.dependency {
                if !wanted.contains(&d.as_str()) {
                    wanted.push(d);
                }
            }
        }
        i += 1;
    }
    // In protox's order: each file after what it imports.
    let file = all
        .iter()
        .filter(|f| wanted.contains(&f.name()))
        .map(|f| FileDescriptorProto {
            source_code_info: None,
            ..f.clone()
        })
        .collect();
    FileDescriptorSet { file }.encode_to_vec()
}
