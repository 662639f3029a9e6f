//! Descriptor handling (device spec §4.3) through the sans-IO queue and the
//! in-process transport.

mod common;

use common::*;
use virtio_mem::queue::{NotReady, QueueFull, Stop};
use virtio_mem::{
    BlockRange, Chain, ChainOutcome, DeviceStatus, InProcessTransport, ProtocolViolation, Request, RequestQueue,
    Response, TransportError, VirtioMemTransport,
};

const BASE: u64 = 0x1_4000_0000;

fn plug_bytes(addr: u64, nb: u16) -> [u8; 24] {
    Request::Plug(BlockRange::new(addr, nb)).encode()
}

#[test]
fn several_chains_are_completed_in_order() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    let mut queue = RequestQueue::default();
    let heads: Vec<u16> = [plug_bytes(BASE, 1), plug_bytes(BASE, 1), Request::State(BlockRange::new(BASE, 2)).encode()]
        .iter()
        .map(|bytes| queue.add(Chain::new(bytes, 10)).unwrap())
        .collect();
    let run = d.process_queue(&mut queue);
    assert_eq!(run.completed, 3);
    assert_eq!(run.stopped, None);
    let answers: Vec<(u16, Vec<u8>)> = std::iter::from_fn(|| queue.pop_used())
        .map(|used| {
            assert_eq!(used.used_len, 10);
            (used.head, used.writable[0].clone())
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            (heads[0], Response::Ack.encode().to_vec()),
            (heads[1], Response::ERROR.encode().to_vec()),
            (heads[2], Response::AckState(virtio_mem::BlockState::Mixed).encode().to_vec()),
        ]
    );
    assert_eq!(queue.interrupts(), 3, "one notification per completion");
}

#[test]
fn a_violation_stops_the_queue_until_reset() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    d.take_config_interrupt();
    let mut queue = RequestQueue::default();
    queue.add(Chain::new(&plug_bytes(BASE, 1), 10)).unwrap();
    queue.add(Chain::new(&plug_bytes(BASE, 1)[..20], 10)).unwrap();
    queue.add(Chain::new(&plug_bytes(BASE + 2 * MIB, 1), 10)).unwrap();
    let run = d.process_queue(&mut queue);
    assert_eq!(run.completed, 1);
    assert_eq!(run.stopped, Some(Stop::Violation(ProtocolViolation::RequestTooShort { readable: 20 })));
    assert_eq!(queue.lost(), 1);
    assert_eq!(queue.available_len(), 1);
    assert!(d.status().contains(DeviceStatus::DEVICE_NEEDS_RESET));
    assert!(d.take_config_interrupt());
    let run = d.process_queue(&mut queue);
    assert_eq!(run.stopped, Some(Stop::NotReady(NotReady::NeedsReset)));
    assert_eq!(d.plugged_size(), 2 * MIB);
    // The driver resets and re-initialises; the remaining chain goes through.
    let offered = d.device_features();
    activate(&mut d, offered);
    let run = d.process_queue(&mut queue);
    assert_eq!(run.completed, 1);
    assert_eq!(d.plugged_size(), 4 * MIB);
    assert_eq!(d.stats().protocol_violations, 1);
}

#[test]
fn short_response_buffers_and_unknown_types_are_violations() {
    for (readable, writable, violation) in [
        (plug_bytes(BASE, 1).to_vec(), 9, ProtocolViolation::ResponseTooSmall { writable: 9 }),
        (
            {
                let mut b = plug_bytes(BASE, 1);
                b[0] = 4;
                b.to_vec()
            },
            10,
            ProtocolViolation::UnknownRequestType { request_type: 4 },
        ),
        (
            {
                let mut b = plug_bytes(BASE, 1);
                b[1] = 1; // type 0x100
                b.to_vec()
            },
            10,
            ProtocolViolation::UnknownRequestType { request_type: 256 },
        ),
        (vec![], 10, ProtocolViolation::RequestTooShort { readable: 0 }),
    ] {
        let mut d = spec_device();
        d.resize(GIB).unwrap();
        let mut response = vec![0x77u8; writable];
        let outcome = d.process_chain(&[&readable], &mut [&mut response]);
        assert_eq!(outcome, ChainOutcome::Dropped(violation));
        assert!(response.iter().all(|&b| b == 0x77), "nothing written");
        assert_eq!(d.plugged_size(), 0);
    }
}

#[test]
fn gathered_buffers_extra_bytes_and_split_responses() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    let bytes = plug_bytes(BASE, 1);
    let mut long = bytes.to_vec();
    long.extend_from_slice(&[0xee; 40]); // ignored
    let (a, b) = long.split_at(5);
    let (mut first, mut second) = ([0u8; 4], [0u8; 30]);
    let outcome = d.process_chain(&[a, b], &mut [&mut first, &mut second]);
    assert_eq!(outcome, ChainOutcome::Completed { response: Response::Ack, used_len: 10 });
    let mut written = first.to_vec();
    written.extend_from_slice(&second[..6]);
    assert_eq!(written, Response::Ack.encode());
    assert_eq!(&second[6..], &[0u8; 24][..], "nothing past 10 bytes");
}

#[test]
fn requests_wait_for_driver_ok() {
    let device = virtio_mem::VirtioMemDevice::new(spec_properties(), virtio_mem::SimulatedMemory::new()).unwrap();
    let mut transport = InProcessTransport::new(device);
    assert_eq!(
        transport.request(Request::UnplugAll),
        Err(TransportError::NotReady(NotReady::NotActivated { status: 0 }))
    );
    transport.set_status(1 | 2);
    transport.set_driver_features(1 << 40);
    transport.set_status(1 | 2 | 8);
    assert_eq!(transport.status() & 8, 0, "unoffered feature refused");
    assert!(transport.last_status_error().is_some());
    transport.set_driver_features(0);
    transport.set_status(1 | 2 | 8);
    assert_eq!(transport.status() & 8, 0, "VERSION_1 required");
    transport.set_status(1 | 2 | 4);
    assert_eq!(transport.status() & 4, 0, "DRIVER_OK needs FEATURES_OK");
    let offered = transport.device_features();
    transport.set_driver_features(offered);
    transport.set_status(1 | 2 | 8 | 4);
    assert_eq!(transport.status(), 15);
    let answer = transport.request(Request::UnplugAll).unwrap();
    assert_eq!(answer.raw_type, 0);
    assert!(transport.take_interrupts().queue);
    assert!(!transport.take_interrupts().queue);
}

#[test]
fn queue_capacity_is_its_size() {
    let mut queue = RequestQueue::new(2);
    queue.add(Chain::default()).unwrap();
    queue.add(Chain::default()).unwrap();
    assert_eq!(queue.add(Chain::default()), Err(QueueFull { size: 2 }));
    queue.reset();
    assert_eq!(queue.available_len(), 0);
    assert_eq!(RequestQueue::default(), RequestQueue::new(128));
}

#[test]
fn config_reads_through_the_transport() {
    let mut transport = InProcessTransport::new(spec_device());
    transport.device_mut().resize(GIB).unwrap();
    let config = transport.read_config_space().unwrap();
    assert_eq!(config, transport.device().config());
    let usable = transport.read_config_u64(virtio_mem::config::offset::USABLE_REGION_SIZE).unwrap();
    assert_eq!(usable, GIB + 256 * MIB);
    let mut node = [0u8; 2];
    transport.read_config(virtio_mem::config::offset::NODE_ID, &mut node).unwrap();
    assert_eq!(node, [0, 0]);
    assert!(transport.read_config(55, &mut [0u8; 2]).is_err());
}
