//! Kernel error numbers (resource-tree.md §1). Operations report the errno
//! the kernel would return through [`crate::Error::errno`].

use core::fmt;

/// A Linux errno value (positive; the kernel returns its negation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
#[allow(missing_docs)] // the names are the documentation
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    ENXIO = 6,
    E2BIG = 7,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ERANGE = 34,
    ENOSYS = 38,
    EOVERFLOW = 75,
}

impl Errno {
    /// The positive errno value.
    pub const fn value(self) -> i32 {
        self as i32
    }

    /// The symbolic name (`"EBUSY"`).
    pub const fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::EINTR => "EINTR",
            Errno::ENXIO => "ENXIO",
            Errno::E2BIG => "E2BIG",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::ENODEV => "ENODEV",
            Errno::EINVAL => "EINVAL",
            Errno::ETXTBSY => "ETXTBSY",
            Errno::EFBIG => "EFBIG",
            Errno::ENOSPC => "ENOSPC",
            Errno::ERANGE => "ERANGE",
            Errno::ENOSYS => "ENOSYS",
            Errno::EOVERFLOW => "EOVERFLOW",
        }
    }

    /// Looks an errno up by its symbolic name.
    pub fn from_name(name: &str) -> Option<Errno> {
        const ALL: [Errno; 19] = [
            Errno::EPERM,
            Errno::ENOENT,
            Errno::EINTR,
            Errno::ENXIO,
            Errno::E2BIG,
            Errno::EAGAIN,
            Errno::ENOMEM,
            Errno::EACCES,
            Errno::EFAULT,
            Errno::EBUSY,
            Errno::EEXIST,
            Errno::ENODEV,
            Errno::EINVAL,
            Errno::ETXTBSY,
            Errno::EFBIG,
            Errno::ENOSPC,
            Errno::ERANGE,
            Errno::ENOSYS,
            Errno::EOVERFLOW,
        ];
        ALL.into_iter().find(|e| e.name() == name)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
