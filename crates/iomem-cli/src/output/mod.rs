//! Output formats of a [`crate::model::Report`]: the annotated tree for
//! people ([`text`]) and the documented JSON for programs ([`json`]). The
//! kernel's own text (`--format proc`) comes straight from the library's
//! renderer.

pub(crate) mod check;
pub(crate) mod json;
pub(crate) mod size;
pub(crate) mod text;

use iomem::Flags;

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
