//! A kernel configuration file (`/boot/config-RELEASE`): `CONFIG_X=y`,
//! `CONFIG_X=m`, `CONFIG_X="text"` and `# CONFIG_X is not set` lines.

use std::collections::BTreeMap;

/// The options of a kernel configuration, without the `CONFIG_` prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KernelConfig {
    options: BTreeMap<String, String>,
}

/// The value recorded for "is not set".
const NOT_SET: &str = "n";

impl KernelConfig {
    /// Parses the text; lines of any other form are ignored, as Kconfig does.
    pub(crate) fn parse(text: &str) -> KernelConfig {
        let mut options = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# CONFIG_") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    options.insert(name.to_string(), NOT_SET.to_string());
                }
            } else if let Some(rest) = line.strip_prefix("CONFIG_") {
                if let Some((name, value)) = rest.split_once('=') {
                    options.insert(name.to_string(), value.to_string());
                }
            }
        }
        KernelConfig { options }
    }

    /// A boolean option: `Some(true)` for `y` (or `m`), `Some(false)` for
    /// "is not set", `None` when the file does not mention it (the
    /// recordings keep only selected lines, so absence is not an answer).
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.options.get(name).map(|v| v == "y" || v == "m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_set_unset_and_absent() {
        let c = KernelConfig::parse(
            "# comment\nCONFIG_STRICT_DEVMEM=y\n# CONFIG_IO_STRICT_DEVMEM is not set\nCONFIG_VIRTIO_MEM=m\n\
             CONFIG_CMDLINE=\"a=b\"\n",
        );
        assert_eq!(c.bool("STRICT_DEVMEM"), Some(true));
        assert_eq!(c.bool("IO_STRICT_DEVMEM"), Some(false));
        assert_eq!(c.bool("VIRTIO_MEM"), Some(true));
        assert_eq!(c.bool("DEVMEM"), None);
    }
}
