//! What the kernel would log, and the claims on the iomem root that trigger
//! `/dev/mem` revocation (resource-tree.md §5.11). Recording is off by
//! default so that a long-running tree does not grow a log nobody reads.

use alloc::string::String;
use alloc::vec::Vec;

use super::ResourceId;
use crate::range::Range;

/// Kernel log level of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `pr_debug`.
    Debug,
    /// `pr_info`.
    Info,
    /// `pr_warn` / `WARN`.
    Warning,
    /// `pr_err`.
    Error,
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalEntry {
    /// A line the kernel would print.
    Message {
        /// Its level.
        level: LogLevel,
        /// Its text, without the trailing newline.
        text: String,
    },
    /// `__request_region` succeeded with the iomem root as its parent
    /// argument: the kernel now runs the `/dev/mem` revocation hook.
    IomemClaim {
        /// The new busy resource.
        resource: ResourceId,
        /// Its range.
        range: Range,
    },
}

/// The recorder.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    /// Record log messages.
    pub record_messages: bool,
    /// Record iomem claims.
    pub record_claims: bool,
    entries: Vec<JournalEntry>,
}

impl Journal {
    /// Turns recording of both kinds on.
    pub fn enable_all(&mut self) {
        self.record_messages = true;
        self.record_claims = true;
    }

    /// The recorded entries, oldest first.
    pub fn entries(&self) -> &[JournalEntry] {
        &self.entries
    }

    /// Takes the recorded entries out.
    pub fn drain(&mut self) -> Vec<JournalEntry> {
        core::mem::take(&mut self.entries)
    }

    /// Texts of the recorded messages, oldest first.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match e {
            JournalEntry::Message { text, .. } => Some(text.as_str()),
            JournalEntry::IomemClaim { .. } => None,
        })
    }

    /// Records a message built lazily (only formatted when recording).
    pub(crate) fn log(&mut self, level: LogLevel, text: impl FnOnce() -> String) {
        if self.record_messages {
            self.entries.push(JournalEntry::Message { level, text: text() });
        }
    }

    pub(crate) fn claim(&mut self, resource: ResourceId, range: Range) {
        if self.record_claims {
            self.entries.push(JournalEntry::IomemClaim { resource, range });
        }
    }
}
