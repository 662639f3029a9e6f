//! The virtio-mem device (virtio device ID 24), hypervisor side, as a
//! `no_std` + `alloc` library a Rust VMM can embed.
//!
//! It follows the device specification's reference profile (QEMU's
//! behaviour): the 56-byte config space, the 24-byte requests and 10-byte
//! responses, the per-block bitmap, PLUG/UNPLUG/UNPLUG_ALL/STATE in QEMU's
//! order of checks, the usable-region rules, host resize with its config
//! interrupt, device and system resets. Cloud-hypervisor's and Firecracker's
//! divergent behaviours are available as [`Profile`]s so a guest driver can
//! be tested against them.
//!
//! Modules, one job each:
//! - [`wire`]: identifiers, feature bits, request/response layouts;
//! - [`config`]: the config space layout;
//! - [`bitmap`]: the plugged-block bitmap with range operations;
//! - [`properties`]: creation-time properties and their validation;
//! - [`profile`]: reference and alternative behaviours;
//! - [`device`]: state, creation, observation, virtio status and features;
//! - [`requests`]: PLUG/UNPLUG/UNPLUG_ALL/STATE in the profile's order;
//! - [`host`]: resize, usable-region rules, resets, busy, removal;
//! - [`backing`]: host-memory hooks and a simulated, access-counting memory;
//! - [`guest`]: guest reads and writes of the region, judged by the device;
//! - [`queue`]: descriptor chains and the request virtqueue (sans-IO);
//! - [`transport`]: the driver-facing transport trait and an in-process
//!   implementation;
//! - [`event`]: trace events and notifications.
//!
//! Data flows one way through the modules: the wire layer (`wire`, `config`,
//! `bitmap`, `status`, `profile`, `event`) imports nothing else; `backing`
//! and `properties` build on it; `device` holds the state; `requests`,
//! `host`, `guest` and `queue` act on a device; `transport` drives a device
//! through its queue. No module imports one that comes later.
//!
//! ```
//! use virtio_mem::{
//!     BlockRange, BlockState, DeviceProperties, NoBackend, Request, Response, VirtioMemDevice,
//! };
//!
//! const MIB: u64 = 1 << 20;
//! let mut device = VirtioMemDevice::new(
//!     DeviceProperties::new(0x1_4000_0000, 4096 * MIB, 2 * MIB),
//!     NoBackend,
//! )?;
//! device.resize(1024 * MIB)?;
//! let plug = Request::Plug(BlockRange::new(0x1_4000_0000, 64));
//! // What a VMM does with the bytes of one descriptor chain:
//! let mut response = [0u8; 10];
//! device.set_driver_features(device.device_features().bits());
//! device.set_status(1 | 2 | 8 | 4)?;
//! device.process_chain(&[&plug.encode()], &mut [&mut response]);
//! assert_eq!(response, Response::Ack.encode());
//! let state = device.execute(Request::State(BlockRange::new(0x1_4000_0000, 65)));
//! assert_eq!(state, Response::AckState(BlockState::Mixed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod backing;
pub mod bitmap;
pub mod config;
pub mod device;
pub mod event;
pub mod guest;
pub mod host;
pub mod profile;
pub mod properties;
pub mod queue;
pub mod requests;
pub mod status;
pub mod transport;
pub mod wire;

pub use backing::{
    AccessError, AccessKind, AccessReport, BackendError, BlockAccess, BlockSpan, MemoryBackend, NoBackend,
    SimulatedMemory, Violation, ViolationKind,
};
pub use bitmap::{Bitmap, RangeFill};
pub use config::{CONFIG_SIZE, ConfigSpace};
pub use device::{InvariantError, RequestStats, VirtioMemDevice};
pub use event::{ConfigChangeReason, TraceEvent};
pub use host::{RemovalError, ResizeError};
pub use profile::Profile;
pub use properties::{CreateError, DeviceProperties};
pub use queue::{Chain, ChainOutcome, ProtocolViolation, RequestQueue};
pub use status::{DeviceStatus, StatusError};
pub use transport::{InProcessTransport, Interrupts, TransportError, VirtioMemTransport};
pub use wire::{
    BlockRange, BlockState, DecodedResponse, Features, Request, RequestDecodeError, RequestType, Response,
    ResponseType, VIRTIO_ID_MEM,
};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
