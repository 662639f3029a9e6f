//! The scenarios: a machine (kernel command line, virtio-mem devices) and
//! the steps after `0-nodriver` (driver loaded with nothing plugged) and
//! `a-size0`.

use super::qemu::{Device, qemu_size};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// One step after the driver is loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// `qom-set /machine/peripheral/vmN requested-size SIZE`.
    Resize {
        /// Index into the scenario's devices.
        device: usize,
        /// Bytes.
        size: u64,
    },
    /// `rmmod virtio_mem` in the guest.
    Rmmod,
}

/// A scenario.
#[derive(Clone, Debug)]
pub(crate) struct Scenario {
    /// Its name (the recording's directory).
    pub(crate) name: &'static str,
    /// Extra kernel command line.
    pub(crate) cmdline: &'static str,
    /// The devices.
    pub(crate) devices: Vec<Device>,
    /// Written to `auto_online_blocks` before `insmod virtio_mem`.
    pub(crate) online_policy: &'static str,
    /// The steps after `a-size0`.
    pub(crate) actions: Vec<Action>,
    /// In the `--quick` subset.
    pub(crate) quick: bool,
}

fn device(n: usize, block_size: u64) -> Device {
    Device { id: format!("vm{n}"), block_size, region_size: 4 * GIB }
}

/// Every scenario.
pub(crate) fn all() -> Vec<Scenario> {
    let resize = |device, size| Action::Resize { device, size };
    let sbm = |name, cmdline, quick| Scenario {
        name,
        cmdline,
        devices: vec![device(0, 2 * MIB)],
        online_policy: "online_movable",
        actions: vec![resize(0, GIB), resize(0, 300 * MIB), Action::Rmmod],
        quick,
    };
    // A device block of 128 MiB equals Linux's memory block: the driver
    // uses Big Block Mode (virtio_mem_init: the sub-block would not be
    // smaller than a memory block).
    let bbm = |name, cmdline, quick| Scenario {
        name,
        cmdline,
        devices: vec![device(0, 128 * MIB)],
        online_policy: "online_movable",
        actions: vec![resize(0, GIB), resize(0, 384 * MIB), Action::Rmmod],
        quick,
    };
    vec![
        sbm("strict-sbm2M", "iomem=strict", true),
        sbm("relaxed-sbm2M", "iomem=relaxed", false),
        bbm("strict-bbm128M", "iomem=strict", false),
        bbm("relaxed-bbm128M", "iomem=relaxed", true),
        Scenario {
            name: "two-devices",
            cmdline: "iomem=strict",
            devices: vec![device(0, 2 * MIB), device(1, 128 * MIB)],
            online_policy: "online_movable",
            actions: vec![resize(0, GIB), resize(1, GIB), resize(0, 300 * MIB), Action::Rmmod],
            quick: false,
        },
    ]
}

impl Scenario {
    /// The step directories' names, in order: `0-nodriver`, `a-size0`,
    /// then `b-grow-1G`, `c-shrink-300M`, `d-rmmod` (with two devices the
    /// device is named: `b-grow-vm0-1G`).
    pub(crate) fn step_names(&self) -> Vec<String> {
        let mut names = vec!["0-nodriver".to_string(), "a-size0".to_string()];
        let mut requested = vec![0u64; self.devices.len()];
        for (i, a) in self.actions.iter().enumerate() {
            let letter = char::from(b'b' + u8::try_from(i).unwrap_or(24));
            let what = match a {
                Action::Resize { device, size } => {
                    let verb = if *size > requested[*device] { "grow" } else { "shrink" };
                    requested[*device] = *size;
                    let dev =
                        if self.devices.len() > 1 { format!("{}-", self.devices[*device].id) } else { String::new() };
                    format!("{verb}-{dev}{}", qemu_size(*size))
                }
                Action::Rmmod => "rmmod".to_string(),
            };
            names.push(format!("{letter}-{what}"));
        }
        names
    }

    /// The kernel command line.
    pub(crate) fn append(&self) -> String {
        let base = "console=ttyS0 panic=-1 nokaslr";
        if self.cmdline.is_empty() { base.to_string() } else { format!("{base} {}", self.cmdline) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_follow_the_recordings() {
        let s = all();
        assert_eq!(s[0].step_names(), ["0-nodriver", "a-size0", "b-grow-1G", "c-shrink-300M", "d-rmmod"]);
        assert_eq!(s[2].step_names(), ["0-nodriver", "a-size0", "b-grow-1G", "c-shrink-384M", "d-rmmod"]);
        let two = s.iter().find(|s| s.name == "two-devices").unwrap();
        assert_eq!(
            two.step_names(),
            ["0-nodriver", "a-size0", "b-grow-vm0-1G", "c-grow-vm1-1G", "d-shrink-vm0-300M", "e-rmmod"]
        );
        assert_eq!(s.iter().filter(|s| s.quick).count(), 2);
        assert_eq!(s[0].append(), "console=ttyS0 panic=-1 nokaslr iomem=strict");
    }
}
