//! Output formats of a [`crate::model::Report`]: the annotated tree for
//! people ([`text`]) and the documented JSON for programs ([`json`]). The
//! kernel's own text (`--format proc`) comes straight from the library's
//! renderer.

pub(crate) mod check;
pub(crate) mod color;
pub(crate) mod json;
pub(crate) mod size;
pub(crate) mod text;

use iomem::Flags;
use serde::Serialize;

/// A JSON array serialized straight from an iterator, one element at a
/// time, so that output of any length is streamed rather than built in
/// memory first (the formatting is serde_json's, as for a `Vec`).
pub(crate) struct Streamed<I>(std::cell::RefCell<Option<I>>);

impl<I> Streamed<I> {
    /// Wraps an iterator; it is consumed by the first serialization.
    pub(crate) fn new(items: I) -> Self {
        Streamed(std::cell::RefCell::new(Some(items)))
    }
}

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Streamed<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self.0.borrow_mut().take().into_iter().flatten();
        serializer.collect_seq(items)
    }
}

/// The kernel names of the set flags, each with whether it is assumed.
pub(crate) fn flag_names(flags: Flags, assumed: Flags) -> Vec<(String, bool)> {
    flags
        .names()
        .map(|name| {
            let bits = Flags::from_kernel_name(&name.to_string()).unwrap_or(Flags::empty());
            (name.to_string(), assumed.intersects(bits))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_names_are_marked() {
        let names = flag_names(Flags::SYSTEM_RAM | Flags::BUSY, Flags::BUSY);
        let expected = [("MEM", false), ("SYSRAM", false), ("BUSY", true)];
        assert_eq!(names, expected.map(|(n, a)| (n.to_string(), a)));
    }
}
