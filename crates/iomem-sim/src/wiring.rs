//! The wires between the parts: one device shared by its transport (the
//! driver's side) and the guest's physical memory (the CPU's side), so
//! that every guest access to the region is judged by the device.

use std::cell::RefCell;
use std::rc::Rc;

use memory_hotplug::{PhysMemory, SparseMemory};
use virtio_mem::{InProcessTransport, Interrupts, SimulatedMemory, TransportError, VirtioMemTransport};

/// A device behind its in-process transport, shared.
pub type SharedDevice = Rc<RefCell<InProcessTransport<SimulatedMemory>>>;

/// The driver's transport to a shared device.
pub struct SharedTransport(pub SharedDevice);

impl VirtioMemTransport for SharedTransport {
    fn device_features(&mut self) -> u64 {
        self.0.borrow_mut().device_features()
    }
    fn set_driver_features(&mut self, features: u64) {
        self.0.borrow_mut().set_driver_features(features)
    }
    fn status(&mut self) -> u8 {
        self.0.borrow_mut().status()
    }
    fn set_status(&mut self, status: u8) {
        self.0.borrow_mut().set_status(status)
    }
    fn read_config(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), TransportError> {
        self.0.borrow_mut().read_config(offset, buf)
    }
    fn write_config(&mut self, offset: usize, data: &[u8]) -> Result<(), TransportError> {
        self.0.borrow_mut().write_config(offset, data)
    }
    fn submit(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        self.0.borrow_mut().submit(request, response)
    }
    fn take_interrupts(&mut self) -> Interrupts {
        self.0.borrow_mut().take_interrupts()
    }
}

/// Guest-physical memory: each device region through its device (which
/// counts accesses to unplugged blocks), everything else in sparse storage.
pub struct GuestMemory {
    pub(crate) devices: Vec<(u64, u64, SharedDevice)>,
    pub(crate) other: SparseMemory,
}

impl GuestMemory {
    fn device_of(&self, addr: u64) -> Option<&SharedDevice> {
        self.devices.iter().find(|(s, n, _)| addr >= *s && addr - s < *n).map(|(_, _, d)| d)
    }
}

impl PhysMemory for GuestMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) {
        match self.device_of(addr) {
            Some(d) => {
                // Reads never straddle a region edge (the hotplug layer reads
                // 16-byte page tags).
                let _ = d.borrow_mut().device_mut().cpu_read(addr, buf);
            }
            None => self.other.read(addr, buf),
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) {
        match self.device_of(addr) {
            Some(d) => {
                let _ = d.borrow_mut().device_mut().cpu_write(addr, data);
            }
            None => self.other.write(addr, data),
        }
    }
}
