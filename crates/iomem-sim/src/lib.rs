//! A deterministic simulated machine: the virtio-mem device (host side),
//! its in-process transport, the guest driver, memory hotplug, the iomem
//! tree and the `/dev/mem` policy, wired together and run step by step in
//! virtual time. The same inputs give the same reports, byte for byte.
//!
//! * [`spec`]: what a machine is (built in, or from a captured system);
//! * [`machine`]: the running machine, its actions and step reports with
//!   invariant checks;
//! * [`scenario`]: scenarios from TOML files, from recordings of real
//!   kernels, or built in;
//! * [`replay`]: running a scenario, writing every step as a captured
//!   system, comparing a recording's steps with the simulation;
//! * [`output`]: the captured-system layout;
//! * `wiring`: the shared device behind transport and guest memory.

pub mod error;
pub mod machine;
pub mod output;
pub mod replay;
pub mod scenario;
pub mod spec;
mod wiring;

pub use error::SimError;
pub use machine::{Action, BlockInfo, DeviceState, DevmemProbe, Invariant, Machine, StepReport};
pub use replay::{Check, Run, StepConformance, run};
pub use scenario::{Scenario, Step};
pub use spec::{DeviceSpec, MachineSpec, SimArch};
pub use wiring::{GuestMemory, SharedDevice, SharedTransport};
