//! `show --verdicts`: each resource's `/dev/mem` read and mmap verdict.
//!
//! The whole address space is judged once, as runs of pages with equal
//! whole-page results ([`Devmem::access_runs`]); a resource's verdict is the
//! result its pages share, or "mixed". Each run knows where the next
//! different result begins, so a resource's verdict costs two binary
//! searches however many runs it spans: the column is linear in the tree.

use iomem::Range;
use iomem_devmem::{Devmem, OpenMode, Outcome};

/// One call's whole-page result on a range of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every page gives this result (`ok`, `zeros`, or an errno name);
    /// `uncertain` when it rests on an estimate (see `iomem check`).
    Same {
        /// The result's name.
        result: &'static str,
        /// The result depends on an estimated fact.
        uncertain: bool,
    },
    /// The pages do not all give the same result (`iomem check` on the
    /// range lists the runs).
    Mixed,
}

impl Verdict {
    /// The text shown: the result, `?` when uncertain, or `mixed`.
    pub(crate) fn text(self) -> String {
        match self {
            Verdict::Same { result, uncertain: false } => result.to_string(),
            Verdict::Same { result, uncertain: true } => format!("{result}?"),
            Verdict::Mixed => "mixed".to_string(),
        }
    }
}

/// A resource's read and mmap verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RowVerdicts {
    /// `pread` of whole pages.
    pub(crate) read: Verdict,
    /// `mmap` of pages.
    pub(crate) mmap: Verdict,
}

/// The descriptor `show --verdicts` judges: `O_RDWR` without `O_SYNC`, as
/// `iomem check` does by default.
pub(crate) const MODE: OpenMode = OpenMode { write: true, sync: false };

/// One call's results over the page runs, with the next change of each.
struct Column {
    results: Vec<(&'static str, bool)>,
    /// For run `i`: the first run after it with a different result.
    next_change: Vec<usize>,
}

impl Column {
    fn new(results: Vec<(&'static str, bool)>) -> Column {
        let mut next_change = vec![results.len(); results.len()];
        for i in (0..results.len().saturating_sub(1)).rev() {
            next_change[i] = if results[i + 1] == results[i] { next_change[i + 1] } else { i + 1 };
        }
        Column { results, next_change }
    }

    /// The verdict of runs `first..=last`.
    fn verdict(&self, first: usize, last: usize) -> Verdict {
        match self.results.get(first) {
            Some(&(result, uncertain)) if self.next_change[first] > last => Verdict::Same { result, uncertain },
            Some(_) => Verdict::Mixed,
            None => Verdict::Mixed,
        }
    }
}

/// The verdicts of every page of the address space, by runs.
pub(crate) struct VerdictIndex {
    /// The first page of each run, ascending; the runs cover the space.
    starts: Vec<u64>,
    read: Column,
    mmap: Column,
}

impl VerdictIndex {
    /// Judges the whole space once.
    pub(crate) fn new(devmem: &Devmem<'_>) -> VerdictIndex {
        let name = |o: &Outcome| (o.result_name(), o.uncertain.is_some());
        let (mut starts, mut read, mut mmap) = (Vec::new(), Vec::new(), Vec::new());
        // One run at a time: only what the index keeps is stored.
        for r in devmem.access_runs_iter(Range::new(0, u64::MAX), MODE) {
            starts.push(r.range.start);
            read.push(name(&r.read));
            mmap.push(name(&r.mmap));
        }
        VerdictIndex { starts, read: Column::new(read), mmap: Column::new(mmap) }
    }

    /// The verdicts of the pages `start..=end` overlaps.
    pub(crate) fn of(&self, start: u64, end: u64) -> RowVerdicts {
        let run_of = |addr: u64| self.starts.partition_point(|&s| s <= addr).saturating_sub(1);
        let (first, last) = (run_of(start), run_of(end.max(start)));
        RowVerdicts { read: self.read.verdict(first, last), mmap: self.mmap.verdict(first, last) }
    }
}

#[cfg(test)]
mod tests {
    use super::{Column, Verdict};

    #[test]
    fn a_span_is_uniform_exactly_when_no_change_falls_inside() {
        let c = Column::new(vec![("ok", false), ("ok", false), ("EPERM", false), ("EPERM", false), ("ok", true)]);
        assert_eq!(c.verdict(0, 1), Verdict::Same { result: "ok", uncertain: false });
        assert_eq!(c.verdict(0, 2), Verdict::Mixed);
        assert_eq!(c.verdict(2, 3), Verdict::Same { result: "EPERM", uncertain: false });
        assert_eq!(c.verdict(3, 4), Verdict::Mixed);
        assert_eq!(c.verdict(4, 4), Verdict::Same { result: "ok", uncertain: true });
        assert_eq!(c.verdict(4, 4).text(), "ok?");
        assert_eq!(c.verdict(9, 9), Verdict::Mixed, "out of range is never a false uniform verdict");
    }
}
