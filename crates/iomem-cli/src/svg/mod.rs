//! Pictures of the physical address map as SVG: the map of one system
//! ([`map`]) and the timeline of a virtio-mem simulation ([`timeline`]).
//!
//! Everything here is a pure function from a model to a `String`: no I/O,
//! no clock, no randomness, so the same model gives the same bytes. The
//! SVG is built as text (no SVG library): [`Svg`] writes elements with
//! every attribute escaped ([`xml`]); coordinates are absolute (no
//! transforms), so that a reader can check the picture from the attributes
//! alone.
//!
//! # Text metrics
//!
//! Every text is set in a monospace font (DejaVu Sans Mono, Menlo,
//! Consolas, or the viewer's monospace) and is laid out with one metric,
//! [`text_box`]: a text of `n` characters at font size `s` placed at
//! (`x`, `y`) (`y` is the baseline) occupies
//!
//! * horizontally `n × 0.62 × s` (monospace fonts advance 0.6 em; 0.62
//!   leaves a margin), from `x` (`text-anchor="start"`), centred on `x`
//!   (`middle`) or ending at `x` (`end`);
//! * vertically from `y − 0.92 × s` (ascenders) to `y + 0.28 × s`
//!   (descenders): 1.2 × `s`.
//!
//! Labels are placed so that no two of these boxes intersect; the tests
//! parse the SVG and check exactly that with the same metric.
//!
//! # The gap-compressed address axis
//!
//! Addresses run downwards. The axis is cut at every resource boundary
//! (and at the boundaries of the `/dev/mem` verdict runs, when there are
//! not too many): each piece ([`Segment`]) gets a height that grows with
//! the logarithm of its size ([`natural_height`]: 4 KiB and 1 TiB differ by
//! a factor of five, not of 2^28), at least one text line (so the address
//! printed at each boundary never collides with the next), and at least as
//! many lines as labels start at its top. A piece that no top-level
//! resource covers (a hole in the map) is capped at [`GAP_HEIGHT`] and
//! drawn with a break mark when its natural height was larger. Within a
//! piece, addresses are linear.

pub(crate) mod map;
pub(crate) mod timeline;

use std::borrow::Cow;

/// Font size of labels and axis addresses.
pub(crate) const FONT: f64 = 11.0;
/// Font size of small texts (stripe headers, sizes under the timeline).
pub(crate) const SMALL_FONT: f64 = 9.0;
/// Font size of titles.
pub(crate) const TITLE_FONT: f64 = 15.0;
/// Horizontal advance of one character, in em.
pub(crate) const CHAR_EM: f64 = 0.62;
/// Ascent above the baseline, in em.
pub(crate) const ASCENT_EM: f64 = 0.92;
/// Descent below the baseline, in em.
pub(crate) const DESCENT_EM: f64 = 0.28;
/// Distance between two lines of [`FONT`] text: more than the 1.2 em
/// a text box is tall.
pub(crate) const LINE: f64 = 15.0;
/// Margin around the picture.
pub(crate) const MARGIN: f64 = 16.0;
/// The most height a hole in the map gets (see the module documentation).
pub(crate) const GAP_HEIGHT: f64 = 30.0;
/// The font families, monospace first to last.
const FONT_FAMILY: &str = "DejaVu Sans Mono, Menlo, Consolas, Liberation Mono, monospace";

/// Horizontal anchoring of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The text starts at `x`.
    Start,
    /// The text is centred on `x`.
    Middle,
    /// The text ends at `x`.
    End,
}

impl Anchor {
    const fn attr(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// A rectangle: left, top, right, bottom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BoxF {
    /// Left edge.
    pub(crate) x0: f64,
    /// Top edge.
    pub(crate) y0: f64,
    /// Right edge.
    pub(crate) x1: f64,
    /// Bottom edge.
    pub(crate) y1: f64,
}

impl BoxF {
    /// Whether two boxes share interior points (touching edges do not
    /// count).
    pub(crate) fn overlaps(&self, o: &BoxF) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// The width of `chars` characters at font size `size`.
pub(crate) fn text_width(chars: usize, size: f64) -> f64 {
    chars as f64 * CHAR_EM * size
}

/// The box a text occupies (see the module documentation).
pub(crate) fn text_box(x: f64, y: f64, size: f64, chars: usize, anchor: Anchor) -> BoxF {
    let w = text_width(chars, size);
    let x0 = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - w / 2.0,
        Anchor::End => x - w,
    };
    BoxF { x0, y0: y - ASCENT_EM * size, x1: x0 + w, y1: y + DESCENT_EM * size }
}

/// A number for an attribute: at most two decimals, no trailing zeros,
/// never `NaN` or infinite (those become 0).
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let s = format!("{:.2}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() { "0".to_string() } else { s.to_string() }
}

/// Text made safe for XML (element content and attribute values alike):
/// the five markup characters become entities, and characters XML 1.0
/// cannot carry at all (control characters, U+FFFE, U+FFFF) become visible
/// escapes (`\x{1b}`).
pub(crate) fn xml(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| !(c.is_control() || c == '\u{fffe}' || c == '\u{ffff}');
    if !text.chars().any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || !allowed(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if !allowed(c) => out.push_str(&format!("\\x{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A name for a label: `<BAD>` for none, `""` for empty, control
/// characters as escapes, and at most `max` characters (the rest replaced
/// by `…`).
pub(crate) fn label_name(name: Option<&str>, max: usize) -> String {
    let shown = crate::output::text::escape_name(name);
    truncate(&shown, max)
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Splits `text` into lines of at most `max` characters, at spaces where
/// possible.
pub(crate) fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(8);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        // Hard-split words longer than a line.
        while word.len() > max {
            if len > 0 {
                lines.push(std::mem::take(&mut line));
                len = 0;
            }
            let rest = word.split_off(max);
            lines.push(word.into_iter().collect());
            word = rest;
        }
        let wl = word.len();
        if len > 0 && len + 1 + wl > max {
            lines.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        line.extend(word);
        len += wl;
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// An address as the axis prints it: `0x` and lower-case hex, up to 2^64.
pub(crate) fn hex(addr: u128) -> String {
    format!("{addr:#x}")
}

/// An SVG document being written.
pub(crate) struct Svg {
    out: String,
    /// The box of every text written ([`text_box`]).
    texts: Vec<BoxF>,
}

impl Svg {
    /// Starts a document of the given size with a white background and the
    /// shared pattern definitions.
    pub(crate) fn new(width: f64, height: f64) -> Svg {
        let (w, h) = (num(width), num(height));
        let mut out = String::with_capacity(64 * 1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
             font-family=\"{FONT_FAMILY}\">\n"
        ));
        out.push_str(&format!(
            "<defs>\n<pattern id=\"unplugged\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\">\
             <rect width=\"6\" height=\"6\" fill=\"{}\"/><path d=\"M0,6 L6,0\" stroke=\"{}\" stroke-width=\"1\"/>\
             </pattern>\n</defs>\n",
            UNPLUGGED_BG, UNPLUGGED_LINE
        ));
        out.push_str(&format!("<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n"));
        Svg { out, texts: Vec::new() }
    }

    /// Ends the document and returns it. Debug builds (the tests) check
    /// that no two texts overlap.
    pub(crate) fn finish(mut self) -> String {
        debug_assert_eq!(self.overlap(), None, "texts overlap");
        self.out.push_str("</svg>\n");
        self.out
    }

    /// Two texts written so far whose boxes overlap, if any (a sweep in y:
    /// `O(n log n)` plus the pairs that share rows).
    pub(crate) fn overlap(&self) -> Option<(BoxF, BoxF)> {
        let mut boxes = self.texts.clone();
        boxes.sort_by(|a, b| a.y0.total_cmp(&b.y0));
        for (i, a) in boxes.iter().enumerate() {
            for b in boxes[i + 1..].iter().take_while(|b| b.y0 < a.y1) {
                if a.overlaps(b) {
                    return Some((*a, *b));
                }
            }
        }
        None
    }

    /// A text element.
    pub(crate) fn text(&mut self, x: f64, y: f64, size: f64, anchor: Anchor, attrs: &str, content: &str) {
        self.texts.push(text_box(x, y, size, content.chars().count(), anchor));
        self.out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{}\"{}{}>{}</text>\n",
            num(x),
            num(y),
            num(size),
            anchor.attr(),
            if attrs.is_empty() { "" } else { " " },
            attrs,
            xml(content)
        ));
    }

    /// A rectangle with a fill (a colour or `url(#…)`), extra attributes
    /// (already escaped) and an optional tooltip.
    pub(crate) fn rect(&mut self, b: BoxF, fill: &str, attrs: &str, title: Option<&str>) {
        self.out.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"{}{}",
            num(b.x0),
            num(b.y0),
            num((b.x1 - b.x0).max(0.0)),
            num((b.y1 - b.y0).max(0.0)),
            fill,
            if attrs.is_empty() { "" } else { " " },
            attrs
        ));
        match title {
            Some(t) => self.out.push_str(&format!("><title>{}</title></rect>\n", xml(t))),
            None => self.out.push_str("/>\n"),
        }
    }

    /// A straight line from `a` to `b` (x, y).
    pub(crate) fn line(&mut self, a: (f64, f64), b: (f64, f64), stroke: &str, width: f64, attrs: &str) {
        self.out.push_str(&format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{}\"{}{}/>\n",
            num(a.0),
            num(a.1),
            num(b.0),
            num(b.1),
            num(width),
            if attrs.is_empty() { "" } else { " " },
            attrs
        ));
    }
}

/// One legend entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Swatch {
    /// Its fill (a colour or a pattern).
    pub(crate) fill: &'static str,
    /// What it means.
    pub(crate) label: String,
}

/// A picture's header: the title, notes and legend, laid out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    /// Text lines: baseline, font size, text.
    lines: Vec<(f64, f64, String)>,
    /// Legend entries: swatch x, baseline, entry.
    legend: Vec<(f64, f64, Swatch)>,
    /// The y below the header.
    pub(crate) bottom: f64,
}

impl Header {
    /// Lays out the title and the notes (wrapped to `width`) from `y`, and
    /// the legend: each group of swatches starts a row of its own and wraps
    /// to more rows when wider than the picture.
    pub(crate) fn layout(width: f64, y: f64, title: &str, notes: &[String], legend: &[Vec<Swatch>]) -> Header {
        let mut lines = Vec::new();
        let mut y = y;
        let usable = (width - 2.0 * MARGIN).max(200.0);
        let title_chars = (usable / (CHAR_EM * TITLE_FONT)) as usize;
        for l in wrap(title, title_chars) {
            y += TITLE_FONT * 1.3;
            lines.push((y, TITLE_FONT, l));
        }
        y += 4.0;
        let note_chars = (usable / (CHAR_EM * FONT)) as usize;
        for n in notes {
            for l in wrap(n, note_chars) {
                y += LINE;
                lines.push((y, FONT, l));
            }
        }
        let mut rows = Vec::new();
        y += 6.0;
        for group in legend.iter().filter(|g| !g.is_empty()) {
            y += LINE + 3.0;
            let mut x = MARGIN;
            for s in group {
                let w = 16.0 + text_width(s.label.chars().count(), FONT);
                if x > MARGIN && x + w > width - MARGIN {
                    x = MARGIN;
                    y += LINE + 3.0;
                }
                rows.push((x, y, s.clone()));
                x += w + 18.0;
            }
        }
        Header { lines, legend: rows, bottom: y + 12.0 }
    }

    /// Draws the header, `dy` below where it was laid out.
    pub(crate) fn render(&self, svg: &mut Svg, dy: f64) {
        for (y, size, text) in &self.lines {
            let attrs = if *size == TITLE_FONT { "font-weight=\"bold\"" } else { "fill=\"#333333\"" };
            svg.text(MARGIN, y + dy, *size, Anchor::Start, attrs, text);
        }
        for (x, y, s) in &self.legend {
            let b = BoxF { x0: *x, y0: y + dy - 10.0, x1: x + 12.0, y1: y + dy + 2.0 };
            svg.rect(b, s.fill, "stroke=\"#555555\" stroke-width=\"0.5\"", None);
            svg.text(x + 16.0, y + dy, FONT, Anchor::Start, "", &s.label);
        }
    }
}

/// What a range is, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// System RAM.
    Ram,
    /// The kernel's image inside System RAM (code, rodata, data, bss).
    Kernel,
    /// Reserved memory and firmware (ACPI tables and NVS, ROMs,
    /// `Reserved`, soft-reserved).
    Reserved,
    /// PCI: host-bridge windows, ECAM / MMCONFIG, devices' BARs.
    Pci,
    /// Any other device.
    Device,
    /// Memory a virtio-mem device added (plugged) inside its region.
    VirtioPlugged,
    /// A virtio-mem device region: what is not added in it is unplugged.
    VirtioUnplugged,
    /// Several resources drawn as one (a huge tree).
    Aggregate,
}

/// The fill of unplugged memory's pattern, and its lines.
const UNPLUGGED_BG: &str = "#e0f2f1";
const UNPLUGGED_LINE: &str = "#4db6ac";

impl Kind {
    /// Every kind, in legend order.
    pub(crate) const ALL: [Kind; 8] = [
        Kind::Ram,
        Kind::Kernel,
        Kind::Reserved,
        Kind::Pci,
        Kind::Device,
        Kind::VirtioPlugged,
        Kind::VirtioUnplugged,
        Kind::Aggregate,
    ];

    /// Stable identifier (JSON, `data-kind`).
    pub(crate) const fn id(self) -> &'static str {
        match self {
            Kind::Ram => "ram",
            Kind::Kernel => "kernel",
            Kind::Reserved => "reserved",
            Kind::Pci => "pci",
            Kind::Device => "device",
            Kind::VirtioPlugged => "virtio-mem-plugged",
            Kind::VirtioUnplugged => "virtio-mem-unplugged",
            Kind::Aggregate => "aggregate",
        }
    }

    /// The legend's words.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Kind::Ram => "System RAM",
            Kind::Kernel => "kernel image",
            Kind::Reserved => "reserved / firmware",
            Kind::Pci => "PCI",
            Kind::Device => "device",
            Kind::VirtioPlugged => "virtio-mem plugged",
            Kind::VirtioUnplugged => "virtio-mem unplugged",
            Kind::Aggregate => "several resources",
        }
    }

    /// The fill.
    pub(crate) const fn fill(self) -> &'static str {
        match self {
            Kind::Ram => "#aed581",
            Kind::Kernel => "#689f38",
            Kind::Reserved => "#bdbdbd",
            Kind::Pci => "#90caf9",
            Kind::Device => "#ffcc80",
            Kind::VirtioPlugged => "#26a69a",
            Kind::VirtioUnplugged => "url(#unplugged)",
            Kind::Aggregate => "#e0e0e0",
        }
    }
}

/// What `/dev/mem` does on a run of pages, for one call (read or mmap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// The call succeeds (read: the contents; mmap: the pages are mapped).
    Ok,
    /// A read succeeds but returns zeros (x86 RAM in the first MiB).
    Zeros,
    /// Refused (an errno) by any rule but exclusivity.
    Refused,
    /// Refused because `iomem_is_exclusive` says so (a busy driver
    /// region with strict checks, or an EXCLUSIVE resource).
    Exclusive,
    /// Several of the above (a resource spanning runs that differ, or runs
    /// too small to draw apart).
    Mixed,
    /// Not judged (an I/O-port map).
    Unknown,
}

impl Verdict {
    /// Every verdict that has a colour, in legend order.
    pub(crate) const SHOWN: [Verdict; 5] =
        [Verdict::Ok, Verdict::Zeros, Verdict::Refused, Verdict::Exclusive, Verdict::Mixed];

    /// Stable identifier (JSON, `data-read`, `data-mmap`).
    pub(crate) const fn id(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Zeros => "zeros",
            Verdict::Refused => "refused",
            Verdict::Exclusive => "exclusive",
            Verdict::Mixed => "mixed",
            Verdict::Unknown => "unknown",
        }
    }

    /// The legend's words.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "/dev/mem ok",
            Verdict::Zeros => "reads zeros",
            Verdict::Refused => "refused",
            Verdict::Exclusive => "refused: exclusive",
            Verdict::Mixed => "mixed",
            Verdict::Unknown => "not judged",
        }
    }

    /// The fill.
    pub(crate) const fn fill(self) -> &'static str {
        match self {
            Verdict::Ok => "#43a047",
            Verdict::Zeros => "#fdd835",
            Verdict::Refused => "#e53935",
            Verdict::Exclusive => "#6a1b9a",
            Verdict::Mixed => "#9e9e9e",
            Verdict::Unknown => "#ffffff",
        }
    }

    /// Two verdicts as one.
    pub(crate) fn merge(self, o: Verdict) -> Verdict {
        if self == o { self } else { Verdict::Mixed }
    }
}

/// The height a piece of the address axis of `size` bytes would get on its
/// own: one text line for 4 KiB or less, growing by 2.2 px per doubling
/// (1 MiB ≈ 32 px, 1 GiB ≈ 54 px, 1 TiB ≈ 76 px, 2^64 ≈ 128 px).
pub(crate) fn natural_height(size: u128) -> f64 {
    let bits = 128 - size.max(1).leading_zeros();
    LINE + (f64::from(bits) - 13.0).max(0.0) * 2.2
}

/// A piece of the address axis.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Segment {
    /// First address.
    pub(crate) start: u128,
    /// First address after it.
    pub(crate) end: u128,
    /// Top.
    pub(crate) y: f64,
    /// Height.
    pub(crate) h: f64,
    /// No top-level resource covers it.
    pub(crate) gap: bool,
    /// A hole drawn shorter than its natural height, with a break mark.
    pub(crate) broken: bool,
}

/// The gap-compressed address axis (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Axis {
    /// The pieces, in address order, contiguous.
    pub(crate) segs: Vec<Segment>,
}

impl Axis {
    /// Builds the axis over sorted, distinct `bounds` (at least two) from
    /// `top` down. `covered` are the sorted, disjoint `[start, end)` ranges
    /// of the top-level resources; `need(i)` is the least height the piece
    /// starting at `bounds[i]` must have (for its labels).
    pub(crate) fn build(bounds: &[u128], covered: &[(u128, u128)], need: impl Fn(usize) -> f64, top: f64) -> Axis {
        let mut segs = Vec::with_capacity(bounds.len().saturating_sub(1));
        let mut y = top;
        let mut ci = 0;
        for (i, w) in bounds.windows(2).enumerate() {
            let (start, end) = (w[0], w[1]);
            while ci < covered.len() && covered[ci].1 <= start {
                ci += 1;
            }
            let gap = !covered.get(ci).is_some_and(|&(s, e)| s <= start && end <= e);
            let natural = natural_height(end - start);
            let broken = gap && natural > GAP_HEIGHT;
            let base = if gap { natural.min(GAP_HEIGHT) } else { natural };
            let h = base.max(need(i));
            segs.push(Segment { start, end, y, h, gap, broken });
            y += h;
        }
        Axis { segs }
    }

    /// The top of the axis.
    pub(crate) fn top(&self) -> f64 {
        self.segs.first().map_or(0.0, |s| s.y)
    }

    /// The bottom of the axis.
    pub(crate) fn bottom(&self) -> f64 {
        self.segs.last().map_or(0.0, |s| s.y + s.h)
    }

    /// The y of an address (linear within its piece; clamped to the axis).
    pub(crate) fn y(&self, addr: u128) -> f64 {
        let Some(first) = self.segs.first() else { return 0.0 };
        if addr <= first.start {
            return first.y;
        }
        let i = self.segs.partition_point(|s| s.end <= addr);
        match self.segs.get(i) {
            None => self.bottom(),
            Some(s) => {
                let frac = (addr - s.start) as f64 / (s.end - s.start).max(1) as f64;
                s.y + s.h * frac
            }
        }
    }
}

/// Moves each label down as far as needed so that consecutive labels are
/// at least `gap` apart (`ys` in order, non-decreasing wanted positions).
pub(crate) fn spread(ys: &mut [f64], gap: f64) {
    for i in 1..ys.len() {
        if ys[i] < ys[i - 1] + gap {
            ys[i] = ys[i - 1] + gap;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_finite() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(1.234), "1.23");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
        assert_eq!(num(100.0), "100");
    }

    #[test]
    fn xml_escapes_markup_and_impossible_characters() {
        assert_eq!(xml("System RAM"), "System RAM");
        assert_eq!(xml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(xml("x\u{1b}y\u{fffe}"), "x\\x{1b}y\\x{fffe}");
        assert_eq!(xml("é…"), "é…");
    }

    #[test]
    fn names_are_escaped_and_cut() {
        assert_eq!(label_name(None, 10), "<BAD>");
        assert_eq!(label_name(Some(""), 10), "\"\"");
        assert_eq!(label_name(Some("a\rb"), 10), "a\\rb");
        assert_eq!(label_name(Some("abcdefghijkl"), 5), "abcd…");
        assert_eq!(truncate("abc", 3), "abc");
    }

    #[test]
    fn wrapping_keeps_every_character() {
        let text = "caller unknown: judging access for root with all capabilities";
        let lines = wrap(text, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        let long = "x".repeat(50);
        assert_eq!(wrap(&long, 20).concat(), long);
        assert_eq!(wrap("", 20), [""]);
    }

    #[test]
    fn text_boxes() {
        let b = text_box(10.0, 100.0, 10.0, 10, Anchor::Start);
        assert_eq!((b.x0, b.x1), (10.0, 72.0));
        assert!((b.y1 - b.y0 - 12.0).abs() < 1e-9);
        let m = text_box(10.0, 100.0, 10.0, 10, Anchor::Middle);
        assert_eq!((m.x0, m.x1), (-21.0, 41.0));
        let e = text_box(10.0, 100.0, 10.0, 10, Anchor::End);
        assert_eq!((e.x0, e.x1), (-52.0, 10.0));
        // Lines LINE apart never overlap.
        let a = text_box(0.0, 0.0, FONT, 5, Anchor::Start);
        let b = text_box(0.0, LINE, FONT, 5, Anchor::Start);
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&text_box(3.0, 2.0, FONT, 5, Anchor::Start)));
    }

    #[test]
    fn heights_grow_slowly() {
        assert_eq!(natural_height(0), LINE);
        assert_eq!(natural_height(4096), LINE);
        assert!(natural_height(1 << 20) > natural_height(1 << 12));
        assert!(natural_height(1 << 40) < 6.0 * natural_height(1 << 12));
        assert!(natural_height(u128::from(u64::MAX) + 1) < 140.0);
    }

    #[test]
    fn the_axis_compresses_holes_and_keeps_order() {
        // RAM 0-1 MiB, a hole to 4 GiB, RAM 4 GiB-1 TiB.
        let bounds = [0u128, 1 << 20, 1 << 32, 1 << 40];
        let covered = [(0u128, 1u128 << 20), (1 << 32, 1 << 40)];
        let axis = Axis::build(&bounds, &covered, |i| if i == 0 { 3.0 * LINE } else { 0.0 }, 50.0);
        assert_eq!(axis.segs.len(), 3);
        assert_eq!(axis.top(), 50.0);
        assert_eq!(axis.segs[0].h, 3.0 * LINE, "labels need three lines");
        assert!(axis.segs[1].gap && axis.segs[1].broken);
        assert_eq!(axis.segs[1].h, GAP_HEIGHT);
        assert!(!axis.segs[2].gap);
        let ys: Vec<f64> = bounds.iter().map(|&b| axis.y(b)).collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        assert_eq!(axis.y(1 << 40), axis.bottom());
        assert_eq!(axis.y(u128::MAX), axis.bottom());
        assert!(axis.y(1 << 39) > axis.y(1 << 32));
        let empty = Axis::build(&[5], &[], |_| 0.0, 0.0);
        assert!(empty.segs.is_empty());
        assert_eq!(empty.y(7), 0.0);
    }

    #[test]
    fn spreading_labels() {
        let mut ys = [0.0, 0.0, 5.0, 100.0];
        spread(&mut ys, 10.0);
        assert_eq!(ys, [0.0, 10.0, 20.0, 100.0]);
    }

    #[test]
    fn documents_are_well_formed_text() {
        let mut s = Svg::new(100.0, 50.0);
        s.text(1.0, 20.0, FONT, Anchor::Start, "", "a<b");
        s.rect(BoxF { x0: 0.0, y0: 0.0, x1: 10.0, y1: 10.0 }, "#000", "", Some("t&t"));
        let doc = s.finish();
        assert!(doc.starts_with("<?xml"));
        assert!(doc.contains(">a&lt;b</text>"));
        assert!(doc.contains("<title>t&amp;t</title>"));
        assert!(doc.ends_with("</svg>\n"));
    }
}
