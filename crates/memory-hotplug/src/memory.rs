//! Physical memory contents, as the guest's CPU sees them: the hotplug
//! layer writes and reads page contents through [`PhysMemory`] when the
//! guest uses memory and when pages migrate, so that a simulated device can
//! count every access to its region (and any access to unplugged memory).

use alloc::collections::BTreeMap;

/// Guest-physical memory.
pub trait PhysMemory {
    /// Reads `buf.len()` bytes at `addr`.
    fn read(&mut self, addr: u64, buf: &mut [u8]);

    /// Writes `data` at `addr`.
    fn write(&mut self, addr: u64, data: &[u8]);
}

/// Memory that keeps nothing and reads as zero (benchmarks of plug and
/// unplug, where no page holds data).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMemory;

impl PhysMemory for NoMemory {
    fn read(&mut self, _addr: u64, buf: &mut [u8]) {
        buf.fill(0);
    }

    fn write(&mut self, _addr: u64, _data: &[u8]) {}
}

/// Sparse memory in 16-byte units (what the hotplug layer writes per page
/// is a 16-byte tag), reading as zero where nothing was written.
#[derive(Clone, Debug, Default)]
pub struct SparseMemory {
    units: BTreeMap<u64, [u8; 16]>,
}

impl SparseMemory {
    /// Empty memory.
    pub fn new() -> SparseMemory {
        SparseMemory::default()
    }

    /// Bytes held.
    pub fn resident_bytes(&self) -> u64 {
        self.units.len() as u64 * 16
    }
}

impl PhysMemory for SparseMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let a = addr + done as u64;
            let offset = (a % 16) as usize;
            let n = (16 - offset).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            match self.units.get(&(a / 16)) {
                Some(u) => out.copy_from_slice(&u[offset..offset + n]),
                None => out.fill(0),
            }
            done += n;
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let a = addr + done as u64;
            let offset = (a % 16) as usize;
            let n = (16 - offset).min(data.len() - done);
            self.units.entry(a / 16).or_insert([0; 16])[offset..offset + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }
}

/// The tag the guest writes at the start of every page it uses: which
/// allocation and which of its pages, so that a page that migrates without
/// its contents, or is lost, is found.
pub(crate) fn tag(alloc: u32, virt: u64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[0..4].copy_from_slice(&alloc.to_le_bytes());
    t[4..12].copy_from_slice(&virt.to_le_bytes());
    t[12..16].copy_from_slice(b"gst!");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_memory_reads_back_across_unit_edges() {
        let mut m = SparseMemory::new();
        m.write(0x1_0009, b"0123456789abcdefXYZ");
        let mut buf = [0xffu8; 24];
        m.read(0x1_0005, &mut buf);
        assert_eq!(&buf[..4], &[0; 4]);
        assert_eq!(&buf[4..23], b"0123456789abcdefXYZ");
        assert_eq!(buf[23], 0);
        assert_eq!(m.resident_bytes(), 32);
    }
}
