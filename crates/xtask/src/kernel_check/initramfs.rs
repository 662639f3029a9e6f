//! The guest's initramfs: an uncompressed `newc` cpio archive (the format
//! the kernel unpacks, `Documentation/driver-api/early-userspace/
//! buffer-format.rst`), written here so that no archiver is needed and the
//! bytes are the same on every run.

use std::collections::BTreeSet;

/// One entry of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A directory.
    Dir,
    /// A regular file with its permission bits.
    File {
        /// Permission bits (0o755, 0o644).
        mode: u32,
        /// The contents.
        data: Vec<u8>,
    },
    /// A symbolic link to the given target.
    Symlink(String),
    /// A character device node (major, minor).
    CharDev(u32, u32),
}

/// An archive under construction: paths relative to the root, without a
/// leading `/`. Parent directories are added automatically.
#[derive(Default)]
pub(crate) struct Archive {
    entries: Vec<(String, Entry)>,
    dirs: BTreeSet<String>,
}

impl Archive {
    /// Adds `path` (and every missing parent directory).
    pub(crate) fn add(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').to_string();
        let mut parent = String::new();
        for part in path.split('/').collect::<Vec<_>>().iter().rev().skip(1).rev() {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if self.dirs.insert(parent.clone()) {
                self.entries.push((parent.clone(), Entry::Dir));
            }
        }
        if entry == Entry::Dir {
            if self.dirs.insert(path.clone()) {
                self.entries.push((path, entry));
            }
        } else {
            self.entries.push((path, entry));
        }
    }

    /// A regular file.
    pub(crate) fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        self.add(path, Entry::File { mode, data });
    }

    /// The archive's bytes.
    pub(crate) fn finish(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match entry {
                Entry::Dir => (0o040_755, &[], (0, 0)),
                Entry::File { mode, data } => (0o100_000 | mode, data, (0, 0)),
                Entry::Symlink(target) => (0o120_777, target.as_bytes(), (0, 0)),
                Entry::CharDev(major, minor) => (0o020_600, &[], (*major, *minor)),
            };
            let ino = u32::try_from(ino + 1).unwrap_or(u32::MAX);
            header(&mut out, path, ino, mode, if *entry == Entry::Dir { 2 } else { 1 }, data.len(), rdev);
            out.extend_from_slice(data);
            pad4(&mut out);
        }
        header(&mut out, "TRAILER!!!", 0, 0, 1, 0, (0, 0));
        // The kernel reads the archive in 512-byte units, as cpio writes it.
        while out.len() % 512 != 0 {
            out.push(0);
        }
        out
    }
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn header(out: &mut Vec<u8>, name: &str, ino: u32, mode: u32, nlink: u32, size: usize, rdev: (u32, u32)) {
    let size = u32::try_from(size).expect("initramfs member below 4 GiB");
    let namesize = u32::try_from(name.len() + 1).expect("short name");
    // c_magic, then ino mode uid gid nlink mtime filesize devmajor devminor
    // rdevmajor rdevminor namesize check, each 8 hex digits.
    let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, namesize, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout() {
        let mut a = Archive::default();
        a.file("bin/x", 0o755, b"hello".to_vec());
        a.add("dev/console", Entry::CharDev(5, 1));
        let bytes = a.finish();
        assert_eq!(bytes.len() % 512, 0);
        let text = String::from_utf8_lossy(&bytes);
        // bin, bin/x, dev, dev/console, trailer.
        assert_eq!(text.matches("070701").count(), 5);
        let first = &bytes[..110];
        assert!(first.starts_with(b"070701"));
        // The directory "bin": mode 040755, nlink 2, namesize 4.
        assert_eq!(&first[14..22], b"000041ed");
        assert_eq!(&first[94..102], b"00000004");
        assert_eq!(&bytes[110..114], b"bin\0");
        // The file's data starts 4-aligned right after its name.
        let at = text.find("bin/x\0").unwrap();
        let data = (at + 6).next_multiple_of(4);
        assert_eq!(&bytes[data..data + 5], b"hello");
        assert!(text.contains("TRAILER!!!"));
        // The device node carries its numbers.
        let dev = text.find("dev/console").unwrap() - 110;
        assert_eq!(&bytes[dev + 78..dev + 86], b"00000005");
        assert_eq!(&bytes[dev + 86..dev + 94], b"00000001");
    }
}
