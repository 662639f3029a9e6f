//! Property tests: decoding is total; arbitrary descriptor chains and host
//! operations never panic and never leave `plugged_size` out of step with the
//! bitmap (every profile); the reference profile answers exactly like a
//! naive per-block model of the spec's decision table; the bitmap's range
//! operations equal a `Vec<bool>`.

mod common;

use common::*;
use proptest::prelude::*;
use virtio_mem::{
    Bitmap, BlockRange, BlockState, DeviceProperties, Features, Profile, RangeFill, Request, RequestDecodeError,
    Response, SimulatedMemory, VirtioMemDevice,
};

const ADDR: u64 = 0x4000_0000;
/// 130 blocks of 1 MiB: crosses two bitmap word boundaries.
const BLOCKS: u64 = 130;
const BS: u64 = MIB;

fn small_properties(profile: Profile) -> DeviceProperties {
    let block_size = if profile == Profile::CloudHypervisor { 2 * MIB } else { BS };
    let region = if profile == Profile::CloudHypervisor { 256 * MIB } else { BLOCKS * BS };
    let profile = match profile {
        Profile::Qemu { .. } => Profile::Qemu { usable_extent: 16 * MIB },
        Profile::Firecracker { .. } => Profile::Firecracker { slot_size: 8 * MIB },
        other => other,
    };
    DeviceProperties::new(ADDR, region, block_size).with_profile(profile)
}

fn profiles() -> impl Strategy<Value = Profile> {
    prop_oneof![Just(Profile::qemu_x86_64()), Just(Profile::cloud_hypervisor()), Just(Profile::firecracker()),]
}

/// Request bytes: mostly well-formed requests around the region (to reach
/// every branch), sometimes anything at all.
fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
    let structured =
        (0u16..6, -4i64..(BLOCKS as i64 + 4), 0u64..3, prop_oneof![0u16..140, any::<u16>()], any::<[u8; 6]>())
            .prop_map(|(request_type, block, misalign, nb, padding)| {
                let addr = (ADDR as i64 + block * BS as i64) as u64 + misalign * 4096 * (misalign % 2);
                let mut bytes = Request::Plug(BlockRange::new(addr, nb)).encode();
                bytes[0..2].copy_from_slice(&request_type.to_le_bytes());
                bytes[2..8].copy_from_slice(&padding);
                bytes.to_vec()
            });
    prop_oneof![
        8 => structured,
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => (any::<u64>(), any::<u16>(), 0u16..4).prop_map(|(addr, nb, t)| {
            let mut bytes = Request::Plug(BlockRange::new(addr, nb)).encode();
            bytes[0..2].copy_from_slice(&t.to_le_bytes());
            bytes.to_vec()
        }),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Chain { segments: Vec<Vec<u8>>, writable: Vec<usize> },
    Resize(u64),
    Migration(bool),
    FailDiscard,
    FailPopulate,
    Reactivate,
    SystemReset,
    Wakeup,
}

fn ops() -> impl Strategy<Value = Op> {
    let chain = (request_bytes(), 0usize..30, proptest::collection::vec(0usize..16, 0..3)).prop_map(
        |(bytes, split, writable)| {
            let split = split.min(bytes.len());
            let segments =
                if split == 0 { vec![bytes] } else { vec![bytes[..split].to_vec(), bytes[split..].to_vec()] };
            let writable = if writable.is_empty() { vec![10] } else { writable };
            Op::Chain { segments, writable }
        },
    );
    prop_oneof![
        12 => chain,
        3 => prop_oneof![(0u64..140).prop_map(|b| b * BS), any::<u64>()].prop_map(Op::Resize),
        1 => any::<bool>().prop_map(Op::Migration),
        1 => Just(Op::FailDiscard),
        1 => Just(Op::FailPopulate),
        1 => Just(Op::Reactivate),
        1 => Just(Op::SystemReset),
        1 => Just(Op::Wakeup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoding_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        match Request::decode(&bytes) {
            Ok(request) => {
                prop_assert!(bytes.len() >= 24);
                let encoded = request.encode();
                prop_assert_eq!(&encoded[0..2], &bytes[0..2]);
                if request != Request::UnplugAll {
                    prop_assert_eq!(&encoded[8..18], &bytes[8..18]);
                }
                prop_assert_eq!(Request::decode(&encoded), Ok(request));
            }
            Err(RequestDecodeError::TooShort { len }) => prop_assert!(len < 24),
            Err(RequestDecodeError::UnknownType { request_type }) => {
                prop_assert!(request_type > 3);
                prop_assert_eq!(request_type, u16::from_le_bytes([bytes[0], bytes[1]]));
            }
        }
    }

    #[test]
    fn arbitrary_chains_never_break_the_invariants(
        profile in profiles(),
        operations in proptest::collection::vec(ops(), 1..60),
    ) {
        let mut device = VirtioMemDevice::new(small_properties(profile), SimulatedMemory::new())
            .expect("valid");
        let offered = device.device_features();
        activate(&mut device, offered);
        for op in operations {
            match op {
                Op::Chain { segments, writable } => {
                    let readable: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
                    let mut buffers: Vec<Vec<u8>> = writable.iter().map(|&n| vec![0; n]).collect();
                    let mut slices: Vec<&mut [u8]> =
                        buffers.iter_mut().map(Vec::as_mut_slice).collect();
                    let _ = device.process_chain(&readable, &mut slices);
                }
                Op::Resize(size) => {
                    let before = (device.requested_size(), device.usable_region_size());
                    if device.resize(size).is_err() {
                        prop_assert_eq!(
                            (device.requested_size(), device.usable_region_size()),
                            before
                        );
                    }
                }
                Op::Migration(running) => device.set_migration_in_progress(running),
                Op::FailDiscard => device.backend_mut().fail_next_discards(1),
                Op::FailPopulate => device.backend_mut().fail_next_populates(1),
                Op::Reactivate => activate(&mut device, offered),
                Op::SystemReset => {
                    device.system_reset();
                    activate(&mut device, offered);
                }
                Op::Wakeup => {
                    let plugged = device.plugged_size();
                    device.wakeup_reset();
                    prop_assert_eq!(device.plugged_size(), plugged);
                    activate(&mut device, offered);
                }
            }
            if let Err(error) = device.check_invariants() {
                prop_assert!(false, "{}", error);
            }
            prop_assert_eq!(
                device.plugged_size(),
                device.bitmap().count_ones() * device.block_size()
            );
        }
    }
}

/// The spec's decision tables written per block, as differently from the
/// device as possible.
struct Model {
    plugged: Vec<bool>,
    usable: u64,
    requested: u64,
    busy: bool,
}

impl Model {
    fn plugged_size(&self) -> u64 {
        self.plugged.iter().filter(|&&p| p).count() as u64 * BS
    }

    /// Block indices of a valid range, or None.
    fn blocks(&self, range: BlockRange) -> Option<std::ops::Range<usize>> {
        let nb = u128::from(range.nb_blocks);
        let start = u128::from(range.addr);
        let end = start + nb * u128::from(BS);
        let usable_end = u128::from(ADDR + self.usable);
        let ok = range.addr % BS == 0
            && nb > 0
            && end <= u128::from(u64::MAX)
            && start >= u128::from(ADDR)
            && start < usable_end
            && end <= usable_end;
        ok.then(|| {
            let first = ((range.addr - ADDR) / BS) as usize;
            first..first + range.nb_blocks as usize
        })
    }

    fn answer(&mut self, request: Request) -> Response {
        match request {
            Request::Plug(range) => {
                let Some(blocks) = self.blocks(range) else {
                    return Response::ERROR;
                };
                if self.plugged_size() + blocks.len() as u64 * BS > self.requested {
                    return Response::Nack;
                }
                if blocks.clone().any(|b| self.plugged[b]) {
                    return Response::ERROR;
                }
                if self.busy {
                    return Response::Busy;
                }
                blocks.for_each(|b| self.plugged[b] = true);
                Response::Ack
            }
            Request::Unplug(range) => {
                let Some(blocks) = self.blocks(range) else {
                    return Response::ERROR;
                };
                if blocks.clone().any(|b| !self.plugged[b]) {
                    return Response::ERROR;
                }
                if self.busy {
                    return Response::Busy;
                }
                blocks.for_each(|b| self.plugged[b] = false);
                Response::Ack
            }
            Request::UnplugAll => {
                if self.plugged_size() > 0 && self.busy {
                    return Response::Busy;
                }
                self.plugged.iter_mut().for_each(|p| *p = false);
                self.usable = self.usable_for(self.requested);
                Response::Ack
            }
            Request::State(range) => {
                let Some(blocks) = self.blocks(range) else {
                    return Response::ERROR;
                };
                let count = blocks.clone().filter(|&b| self.plugged[b]).count();
                Response::AckState(if count == blocks.len() {
                    BlockState::Plugged
                } else if count == 0 {
                    BlockState::Unplugged
                } else {
                    BlockState::Mixed
                })
            }
        }
    }

    fn usable_for(&self, requested: u64) -> u64 {
        if requested == 0 { 0 } else { (requested + 16 * MIB).min(BLOCKS * BS) }
    }

    fn resize(&mut self, requested: u64) {
        if requested != self.requested {
            self.usable = self.usable.max(self.usable_for(requested));
            self.requested = requested;
        }
    }
}

#[derive(Debug, Clone)]
enum ModelOp {
    Request(Request),
    Resize(u64),
    Busy(bool),
}

fn model_ops() -> impl Strategy<Value = ModelOp> {
    let range = (-2i64..(BLOCKS as i64 + 2), 0u16..20, prop::bool::weighted(0.1)).prop_map(|(block, nb, misalign)| {
        let addr = (ADDR as i64 + block * BS as i64) as u64 + if misalign { 4096 } else { 0 };
        BlockRange::new(addr, nb)
    });
    prop_oneof![
        4 => range.clone().prop_map(|r| ModelOp::Request(Request::Plug(r))),
        3 => range.clone().prop_map(|r| ModelOp::Request(Request::Unplug(r))),
        2 => range.prop_map(|r| ModelOp::Request(Request::State(r))),
        1 => Just(ModelOp::Request(Request::UnplugAll)),
        2 => (0u64..=BLOCKS).prop_map(|b| ModelOp::Resize(b * BS)),
        1 => prop::bool::weighted(0.3).prop_map(ModelOp::Busy),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reference_profile_matches_the_decision_table_model(
        operations in proptest::collection::vec(model_ops(), 1..80),
    ) {
        let mut device = VirtioMemDevice::new(
            small_properties(Profile::qemu_x86_64()),
            SimulatedMemory::new(),
        )
        .expect("valid");
        activate(&mut device, Features::UNPLUGGED_INACCESSIBLE);
        let mut model = Model {
            plugged: vec![false; BLOCKS as usize],
            usable: 0,
            requested: 0,
            busy: false,
        };
        for op in operations {
            match op {
                ModelOp::Request(request) => {
                    let expected = model.answer(request);
                    prop_assert_eq!(device.execute(request), expected, "{:?}", request);
                }
                ModelOp::Resize(size) => {
                    device.resize(size).expect("aligned and in range");
                    model.resize(size);
                }
                ModelOp::Busy(busy) => {
                    device.set_migration_in_progress(busy);
                    model.busy = busy;
                }
            }
            prop_assert_eq!(device.plugged_size(), model.plugged_size());
            prop_assert_eq!(device.usable_region_size(), model.usable);
            for (index, &plugged) in model.plugged.iter().enumerate() {
                prop_assert_eq!(device.is_block_plugged(index as u64), plugged);
            }
        }
    }

    #[test]
    fn bitmap_range_operations_match_a_bool_vector(
        bits in 1u64..2000,
        operations in proptest::collection::vec((0u8..3, 0u64..2100, 0u64..1500), 1..40),
    ) {
        let mut bitmap = Bitmap::new(bits).expect("small");
        let mut model = vec![false; bits as usize];
        for (kind, start, len) in operations {
            let in_range = start + len <= bits;
            match kind {
                0 | 1 => {
                    let result = if kind == 0 {
                        bitmap.set_range(start, len)
                    } else {
                        bitmap.clear_range(start, len)
                    };
                    prop_assert_eq!(result.is_ok(), in_range);
                    if in_range {
                        for bit in start..start + len {
                            model[bit as usize] = kind == 0;
                        }
                    }
                }
                _ => {
                    let result = bitmap.range_fill(start, len);
                    prop_assert_eq!(result.is_ok(), in_range);
                    if in_range && len > 0 {
                        let slice = &model[start as usize..(start + len) as usize];
                        let expected = if slice.iter().all(|&b| b) {
                            RangeFill::AllSet
                        } else if slice.iter().all(|&b| !b) {
                            RangeFill::AllClear
                        } else {
                            RangeFill::Mixed
                        };
                        prop_assert_eq!(result.unwrap(), expected);
                    }
                }
            }
            prop_assert_eq!(bitmap.count_ones(), model.iter().filter(|&&b| b).count() as u64);
        }
        let runs: Vec<_> = bitmap.set_runs().collect();
        let mut expected = Vec::new();
        let mut index = 0;
        while index < model.len() {
            if model[index] {
                let start = index;
                while index < model.len() && model[index] {
                    index += 1;
                }
                expected.push(start as u64..index as u64);
            } else {
                index += 1;
            }
        }
        prop_assert_eq!(runs, expected);
    }
}
