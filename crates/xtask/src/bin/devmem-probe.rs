//! `devmem-probe`: what the running kernel's `/dev/mem` really does at
//! physical addresses. Runs inside the guests of `cargo xtask kernel-check`
//! (built statically), never on the host.
//!
//! ```text
//! devmem-probe ADDR[:LABEL]...    one JSON line per address and descriptor
//! devmem-probe --kpageflags-end   {"kpageflags_end_pfn": N}
//! ```
//!
//! For every address (hexadecimal with `0x`, or decimal), twice — with a
//! fresh descriptor opened `O_RDONLY|O_SYNC`, then one opened `O_RDWR` —
//! it tries `open("/dev/mem")`, `mmap` of the page holding the address
//! (`PROT_READ`, `MAP_SHARED`; the mapping is never touched, only
//! unmapped), and `pread` of 1 and of 16 bytes at exactly the address. It
//! prints `ok` or the errno's name for each, and for a successful read only
//! whether every byte was zero (`zero`) or not (`data`): never the memory's
//! contents. It never writes to `/dev/mem`. Each line also carries the
//! page's `/proc/kpageflags` word (`null` beyond the file's end).
//!
//! `--kpageflags-end` prints the first page frame number `/proc/kpageflags`
//! has no entry for: the kernel's `max_pfn` rounded up to a memory section
//! (`fs/proc/page.c`), from which the harness checks `high_memory`.

// The workspace denies unsafe code. This one program must call mmap(2) and
// munmap(2) on /dev/mem, which std has no safe form of; the two calls are
// the only unsafe code, each with its SAFETY argument.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::process::ExitCode;

use serde_json::{Value, json};

/// The guests are x86-64: 4 KiB pages.
const PAGE_SIZE: u64 = 4096;
/// `O_SYNC` on x86-64 Linux (`__O_SYNC | O_DSYNC`).
const O_SYNC: i32 = 0o4_010_000;

/// The two C functions std does not wrap.
mod sys {
    use std::ffi::{c_int, c_void};

    /// `PROT_READ`.
    pub(crate) const PROT_READ: c_int = 1;
    /// `MAP_SHARED`.
    pub(crate) const MAP_SHARED: c_int = 1;

    unsafe extern "C" {
        /// mmap(2) (glibc, 64-bit `off_t` on x86-64).
        pub(crate) fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            flags: c_int,
            fd: c_int,
            offset: i64,
        ) -> *mut c_void;
        /// munmap(2).
        pub(crate) fn munmap(addr: *mut c_void, len: usize) -> c_int;
    }
}

/// The errno's name, as the recordings spell it.
fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(5) => "EIO",
        Some(6) => "ENXIO",
        Some(9) => "EBADF",
        Some(11) => "EAGAIN",
        Some(12) => "ENOMEM",
        Some(13) => "EACCES",
        Some(14) => "EFAULT",
        Some(16) => "EBUSY",
        Some(19) => "ENODEV",
        Some(22) => "EINVAL",
        Some(38) => "ENOSYS",
        Some(75) => "EOVERFLOW",
        Some(95) => "ENOTSUP",
        Some(n) => return format!("errno{n}"),
        None => return format!("error({e})"),
    };
    name.to_string()
}

/// mmap of one page at `page` through `file`, unmapped at once.
fn map_page(file: &File, page: u64) -> String {
    let Ok(offset) = i64::try_from(page) else { return "EOVERFLOW".to_string() };
    // SAFETY: a new shared read-only mapping at an address the kernel
    // chooses (addr NULL) replaces no existing mapping; the descriptor is
    // open for the whole call. The mapping is never read through, and it
    // is unmapped below before anything else happens.
    let p = unsafe {
        sys::mmap(std::ptr::null_mut(), PAGE_SIZE as usize, sys::PROT_READ, sys::MAP_SHARED, file.as_raw_fd(), offset)
    };
    if p.addr() == usize::MAX {
        return errno_name(&io::Error::last_os_error());
    }
    // SAFETY: `p` is the start of the one-page mapping made just above,
    // no reference into it exists, and it is unmapped exactly once.
    unsafe {
        sys::munmap(p, PAGE_SIZE as usize);
    }
    "ok".to_string()
}

/// pread of `len` bytes at `addr`: (result, zero or data).
fn read_at(file: &File, addr: u64, len: usize) -> (String, Value) {
    let mut buf = [0xa5u8; 16];
    match file.read_at(&mut buf[..len], addr) {
        Ok(n) if n == len => {
            let zero = buf[..n].iter().all(|&b| b == 0);
            ("ok".to_string(), json!(if zero { "zero" } else { "data" }))
        }
        Ok(n) => (format!("short{n}"), Value::Null),
        Err(e) => (errno_name(&e), Value::Null),
    }
}

/// The `/proc/kpageflags` word of a page frame: `Ok(None)` past the end.
fn kpageflags(pfn: u64) -> io::Result<Option<u64>> {
    let f = File::open("/proc/kpageflags")?;
    let mut b = [0u8; 8];
    let n = f.read_at(&mut b, pfn.saturating_mul(8))?;
    Ok((n == 8).then(|| u64::from_ne_bytes(b)))
}

/// The first page frame without a `/proc/kpageflags` entry.
fn kpageflags_end() -> io::Result<u64> {
    // Invariant: `lo` has an entry (or is 0), `hi` has none.
    let (mut lo, mut hi) = (0u64, 1u64 << 40);
    if kpageflags(0)?.is_none() {
        return Ok(0);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if kpageflags(mid)?.is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

fn probe(addr: u64, label: &str) -> Vec<Value> {
    let kpf = match kpageflags(addr / PAGE_SIZE) {
        Ok(Some(w)) => json!(format!("{w:#x}")),
        Ok(None) => Value::Null,
        Err(e) => json!(errno_name(&e)),
    };
    let mut lines = Vec::new();
    for (fd, write, sync) in [("O_RDONLY|O_SYNC", false, true), ("O_RDWR", true, false)] {
        let mut opts = OpenOptions::new();
        opts.read(true).write(write);
        if sync {
            opts.custom_flags(O_SYNC);
        }
        let mut line = json!({
            "address": format!("{addr:#x}"), "label": label, "fd": fd,
            "open": "-", "mmap": "-", "pread1": "-", "pread1_data": null, "pread16": "-", "pread16_data": null,
            "kpageflags": kpf,
        });
        match opts.open("/dev/mem") {
            Err(e) => line["open"] = json!(errno_name(&e)),
            Ok(file) => {
                line["open"] = json!("ok");
                line["mmap"] = json!(map_page(&file, addr & !(PAGE_SIZE - 1)));
                let (r, d) = read_at(&file, addr, 1);
                line["pread1"] = json!(r);
                line["pread1_data"] = d;
                let (r, d) = read_at(&file, addr, 16);
                line["pread16"] = json!(r);
                line["pread16_data"] = d;
            }
        }
        lines.push(line);
    }
    lines
}

fn parse_addr(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: devmem-probe ADDR[:LABEL]... | --kpageflags-end");
        return ExitCode::from(2);
    }
    if args[0] == "--kpageflags-end" {
        return match kpageflags_end() {
            Ok(pfn) => {
                println!("{}", json!({ "kpageflags_end_pfn": pfn }));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("devmem-probe: /proc/kpageflags: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut status = ExitCode::SUCCESS;
    for arg in &args {
        let (a, label) = arg.split_once(':').unwrap_or((arg, "-"));
        let Some(addr) = parse_addr(a) else {
            eprintln!("devmem-probe: {arg:?}: not an address");
            status = ExitCode::from(2);
            continue;
        };
        for line in probe(addr, label) {
            println!("{line}");
        }
    }
    status
}
