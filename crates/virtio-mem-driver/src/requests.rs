//! Talking to the device (§5): config reads and refresh (§4.1 step 4,
//! §6.3), and the four requests with their answers mapped to the errnos
//! that drive the worker.

use virtio_mem::config::offset;
use virtio_mem::{BlockRange, BlockState, Request, ResponseType, TransportError, VirtioMemTransport};

use crate::core::Mode;
use crate::driver::{VirtioMemDriver, dev_log};
use crate::os::{Errno, Os};

impl<T: VirtioMemTransport> VirtioMemDriver<T> {
    fn config_u64(&mut self, at: usize) -> Result<u64, TransportError> {
        self.transport.read_config_u64(at)
    }

    /// §4.1 step 4: `plugged_size`, `block_size`, `node_id`, `addr`,
    /// `region_size`, `usable_region_size`, in this order.
    pub(crate) fn read_initial_config(&mut self) -> Result<(), TransportError> {
        let plugged = self.config_u64(offset::PLUGGED_SIZE)?;
        let block = self.config_u64(offset::BLOCK_SIZE)?;
        let mut node = [0u8; 2];
        self.transport.read_config(offset::NODE_ID, &mut node)?;
        let addr = self.config_u64(offset::ADDR)?;
        let region = self.config_u64(offset::REGION_SIZE)?;
        let usable = self.config_u64(offset::USABLE_REGION_SIZE)?;
        let c = &mut self.core;
        c.plugged_size = plugged;
        c.device_block_size = block;
        c.node_id = u16::from_le_bytes(node);
        c.addr = addr;
        c.region_size = region;
        c.usable_region_size = usable;
        Ok(())
    }

    /// `virtio_mem_refresh_config` (§6.3).
    pub(crate) fn refresh_config(&mut self, os: &mut dyn Os) {
        // A config the transport cannot read is left as it was; the next
        // request will fail the same way and be retried.
        let Ok(plugged) = self.config_u64(offset::PLUGGED_SIZE) else { return };
        if plugged != self.core.plugged_size {
            if !self.core.warned_plugged_size {
                self.core.warned_plugged_size = true;
                dev_log!(
                    os,
                    self.core,
                    Warn,
                    "device plugged size ({plugged:#x}) differs from the driver's ({:#x})",
                    self.core.plugged_size
                );
            }
            self.core.plugged_size = plugged;
        }
        let Ok(usable) = self.config_u64(offset::USABLE_REGION_SIZE) else { return };
        self.core.usable_region_size = usable;
        let (_, pluggable_end) = os.pluggable_range();
        let last = self.core.last_usable_id(pluggable_end);
        match &mut self.core.mode {
            Mode::Sbm(s) => s.last_usable = last,
            Mode::Bbm(b) => b.last_usable = last,
            _ => {}
        }
        let Ok(requested) = self.config_u64(offset::REQUESTED_SIZE) else { return };
        self.core.requested_size = requested;
        dev_log!(os, self.core, Info, "plugged size: {:#x}", self.core.plugged_size);
        dev_log!(os, self.core, Info, "requested size: {:#x}", self.core.requested_size);
    }

    /// Sends one request, waits for the answer; `None` for a queueing
    /// failure or an answer of unknown type.
    fn send(&mut self, request: Request) -> Option<(ResponseType, Option<BlockState>)> {
        let answer = self.transport.request(request).ok()?;
        Some((answer.response_type()?, answer.block_state()))
    }

    /// `nb_blocks` for `size` bytes (kept to 16 bits; a size beyond that
    /// cannot be sent).
    fn nb_blocks(&self, size: u64) -> Result<u16, Errno> {
        let dbs = self.core.device_block_size;
        if dbs == 0 || size % dbs != 0 {
            return Err(Errno::EINVAL);
        }
        u16::try_from(size / dbs).map_err(|_| Errno::EINVAL)
    }

    /// The pending interrupts, then the -EAGAIN pre-check of PLUG and
    /// UNPLUG (and of fake-offlining): a config change restarts the worker.
    pub(crate) fn config_change_pending(&mut self) -> bool {
        self.handle_interrupts();
        self.core.config_changed
    }

    /// PLUG `[addr, addr + size)` (§5).
    pub(crate) fn send_plug(&mut self, addr: u64, size: u64) -> Result<(), Errno> {
        if self.config_change_pending() {
            return Err(Errno::EAGAIN);
        }
        let nb = self.nb_blocks(size)?;
        match self.send(Request::Plug(BlockRange::new(addr, nb))) {
            Some((ResponseType::Ack, _)) => {
                self.core.plugged_size += size;
                Ok(())
            }
            Some((ResponseType::Nack, _)) => Err(Errno::EAGAIN),
            Some((ResponseType::Busy, _)) => Err(Errno::ETXTBSY),
            Some((ResponseType::Error, _)) => Err(Errno::EINVAL),
            None => Err(Errno::ENOMEM),
        }
    }

    /// UNPLUG `[addr, addr + size)` (§5).
    pub(crate) fn send_unplug(&mut self, addr: u64, size: u64) -> Result<(), Errno> {
        if self.config_change_pending() {
            return Err(Errno::EAGAIN);
        }
        let nb = self.nb_blocks(size)?;
        match self.send(Request::Unplug(BlockRange::new(addr, nb))) {
            Some((ResponseType::Ack, _)) => {
                self.core.plugged_size = self.core.plugged_size.saturating_sub(size);
                Ok(())
            }
            Some((ResponseType::Busy, _)) => Err(Errno::ETXTBSY),
            Some((ResponseType::Error, _)) => Err(Errno::EINVAL),
            Some((ResponseType::Nack, _)) | None => Err(Errno::ENOMEM),
        }
    }

    /// UNPLUG_ALL (§5): on ACK the usable region may have shrunk, so the
    /// config must be read again.
    pub(crate) fn send_unplug_all(&mut self) -> Result<(), Errno> {
        match self.send(Request::UnplugAll) {
            Some((ResponseType::Ack, _)) => {
                self.core.unplug_all_required = false;
                self.core.plugged_size = 0;
                self.core.config_changed = true;
                Ok(())
            }
            Some((ResponseType::Busy, _)) => Err(Errno::ETXTBSY),
            _ => Err(Errno::ENOMEM),
        }
    }

    /// STATE of one device block (kdump only, §13).
    pub(crate) fn send_state(&mut self, addr: u64, size: u64) -> Result<BlockState, Errno> {
        let nb = self.nb_blocks(size)?;
        match self.send(Request::State(BlockRange::new(addr, nb))) {
            Some((ResponseType::Ack, Some(state))) => Ok(state),
            Some((ResponseType::Error, _)) => Err(Errno::EINVAL),
            _ => Err(Errno::ENOMEM),
        }
    }
}
