//! The mutating operations of resource-tree.md §4–§5 and §7.

mod allocate;
mod basic;
mod boot;
mod free_region;
mod hotplug;
mod region;

pub use allocate::{AlignFn, AlignRequest, Constraint, WindowHook};
pub use basic::{resource_alignment, resource_contains};
pub use boot::{MAX_RESERVE, ReserveState};
pub use free_region::DEFAULT_FREE_REGION_ALIGN;
pub use hotplug::Adjustment;
pub use region::IntoName;
