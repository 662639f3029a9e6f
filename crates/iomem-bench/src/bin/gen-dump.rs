//! `gen-dump SHAPE RESOURCES FILE`: writes a generated `/proc/iomem` dump
//! (`bars` or `virtio`, see the crate docs) for the whole-process figures.

use std::process::ExitCode;

use iomem_bench::{Shape, dump};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [shape, n, file] = args.as_slice() else {
        eprintln!("usage: gen-dump bars|virtio RESOURCES FILE");
        return ExitCode::from(2);
    };
    let (Some(shape), Ok(n)) = (Shape::from_name(shape), n.parse::<usize>()) else {
        eprintln!("usage: gen-dump bars|virtio RESOURCES FILE");
        return ExitCode::from(2);
    };
    let d = dump(shape, n);
    if let Err(e) = std::fs::write(file, &d.text) {
        eprintln!("gen-dump: {file}: {e}");
        return ExitCode::FAILURE;
    }
    println!("{file}: {} lines, {} bytes", d.lines, d.text.len());
    ExitCode::SUCCESS
}
