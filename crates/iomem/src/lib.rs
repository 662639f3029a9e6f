//! The Linux physical-address resource tree (`/proc/iomem`, `/proc/ioports`).
#![cfg_attr(not(feature = "std"), no_std)]
extern crate alloc;
