//! Request semantics in the profile's order: PLUG and UNPLUG (device spec
//! §5.2), UNPLUG_ALL (§5.3) and STATE (§5.4), with the range predicate of
//! §5.1.

use crate::backing::{BlockSpan, MemoryBackend};
use crate::bitmap::RangeFill;
use crate::device::VirtioMemDevice;
use crate::event::TraceEvent;
use crate::profile::{PlugCheckOrder, Profile};
use crate::wire::{BlockRange, BlockState, Request, Response};

impl<B: MemoryBackend> VirtioMemDevice<B> {
    /// Executes one decoded request and returns the response (the transport
    /// layer in [`queue`](crate::queue) adds descriptor handling).
    pub fn execute(&mut self, request: Request) -> Response {
        let response = match request {
            Request::Plug(range) => {
                self.emit(TraceEvent::PlugRequest(range));
                self.plug(range)
            }
            Request::Unplug(range) => {
                self.emit(TraceEvent::UnplugRequest(range));
                self.unplug(range)
            }
            Request::UnplugAll => {
                self.emit(TraceEvent::UnplugAllRequest);
                self.unplug_all()
            }
            Request::State(range) => {
                self.emit(TraceEvent::StateRequest(range));
                self.state(range)
            }
        };
        let response_type = response.response_type();
        self.stats.requests += 1;
        if let Some(count) = self.stats.responses.get_mut(response_type as usize) {
            *count += 1;
        }
        self.emit(TraceEvent::SendResponse(response_type));
        response
    }

    /// The range validity predicate `valid(gpa, nb)` of §5.1: aligned,
    /// non-empty, not overflowing, inside the usable region. A block count
    /// whose byte size overflows 64 bits is invalid too (QEMU would wrap;
    /// only possible with block sizes of 2^48 and more).
    fn valid_span(&self, range: BlockRange) -> Option<BlockSpan> {
        let block_size = self.block_size();
        let size = u64::from(range.nb_blocks).checked_mul(block_size)?;
        if range.addr % block_size != 0 || size == 0 {
            return None;
        }
        let end = range.addr.checked_add(size)?;
        let region_start = self.properties.addr;
        // Cannot overflow: creation checked addr + region_size.
        let usable_end = region_start + self.usable_region_size;
        if range.addr < region_start || range.addr >= usable_end || end > usable_end {
            return None;
        }
        Some(BlockSpan {
            first_block: (range.addr - region_start) / block_size,
            nb_blocks: u64::from(range.nb_blocks),
            addr: range.addr,
            size,
        })
    }

    fn exceeds_request(&self, size: u64) -> bool {
        self.plugged_size.saturating_add(size) > self.requested_size
    }

    /// PLUG, §5.2: range → limit (NACK) → states → busy → host → ACK, or
    /// the profile's order.
    fn plug(&mut self, range: BlockRange) -> Response {
        let profile = self.profile();
        if profile.plug_check_order() == PlugCheckOrder::LimitFirst {
            let size = u64::from(range.nb_blocks).saturating_mul(self.block_size());
            if self.exceeds_request(size) {
                return profile.too_large_plug();
            }
        }
        let Some(span) = self.valid_span(range) else {
            return Response::ERROR;
        };
        if profile.plug_check_order() == PlugCheckOrder::RangeFirst && self.exceeds_request(span.size) {
            return profile.too_large_plug();
        }
        if !matches!(self.bitmap.range_fill(span.first_block, span.nb_blocks), Ok(RangeFill::AllClear)) {
            return Response::ERROR;
        }
        if self.is_busy() {
            return Response::Busy;
        }
        if self.backend.populate(span).is_err() {
            // Roll back whatever the failed preparation touched; a failure
            // here changes nothing more (the blocks stay unplugged).
            let _ = self.backend.discard(span);
            return profile.populate_failure();
        }
        if self.bitmap.set_range(span.first_block, span.nb_blocks).is_err() {
            return Response::ERROR;
        }
        self.plugged_size += span.size;
        self.emit(TraceEvent::SizeChanged { plugged_size: self.plugged_size });
        Response::Ack
    }

    /// UNPLUG, §5.2: range → states → busy → discard → ACK. Never NACK, and
    /// never refused for going below the requested size.
    fn unplug(&mut self, range: BlockRange) -> Response {
        let Some(span) = self.valid_span(range) else {
            return Response::ERROR;
        };
        if !matches!(self.bitmap.range_fill(span.first_block, span.nb_blocks), Ok(RangeFill::AllSet)) {
            return Response::ERROR;
        }
        if self.is_busy() {
            return Response::Busy;
        }
        if self.backend.discard(span).is_err() {
            if let Some(response) = self.profile().discard_failure() {
                return response;
            }
        }
        if self.bitmap.clear_range(span.first_block, span.nb_blocks).is_err() {
            return Response::ERROR;
        }
        self.plugged_size -= span.size;
        self.emit(TraceEvent::SizeChanged { plugged_size: self.plugged_size });
        Response::Ack
    }

    /// UNPLUG_ALL, §5.3 (also the system-reset path). Reference profile:
    /// with memory plugged, BUSY while busy or when the discard fails;
    /// otherwise unplug everything, then recompute the usable region with
    /// shrinking allowed, and ACK without a config interrupt.
    pub(crate) fn unplug_all(&mut self) -> Response {
        let profile = self.profile();
        let whole = self.properties.whole_region();
        match profile {
            Profile::Qemu { .. } => {
                if self.plugged_size != 0 {
                    if self.is_busy() || self.backend.discard(whole).is_err() {
                        return Response::Busy;
                    }
                    self.unplug_everything();
                }
                self.emit(TraceEvent::UnpluggedAll);
                self.resize_usable(self.requested_size, true);
            }
            Profile::CloudHypervisor => {
                if self.backend.discard(whole).is_err() {
                    return Response::ERROR;
                }
                self.unplug_everything();
                self.emit(TraceEvent::UnpluggedAll);
            }
            Profile::Firecracker { .. } => {
                // Firecracker logs a failed discard and carries on.
                let _ = self.backend.discard(whole);
                self.unplug_everything();
                self.emit(TraceEvent::UnpluggedAll);
                self.set_usable(0);
            }
        }
        Response::Ack
    }

    fn unplug_everything(&mut self) {
        self.bitmap.clear_all();
        if self.plugged_size != 0 {
            self.plugged_size = 0;
            self.emit(TraceEvent::SizeChanged { plugged_size: 0 });
        }
    }

    /// STATE, §5.4: ERROR for an invalid range, else the range's state.
    fn state(&mut self, range: BlockRange) -> Response {
        let Some(span) = self.valid_span(range) else {
            return Response::Error { state_field: self.profile().state_error_field() };
        };
        let state = match self.bitmap.range_fill(span.first_block, span.nb_blocks) {
            Ok(RangeFill::AllSet) => BlockState::Plugged,
            Ok(RangeFill::AllClear) => BlockState::Unplugged,
            Ok(RangeFill::Mixed) => BlockState::Mixed,
            Err(_) => return Response::ERROR,
        };
        self.emit(TraceEvent::StateResponse(state));
        Response::AckState(state)
    }
}
