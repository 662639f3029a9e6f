//! The picture of one address map: every resource as a box nested in its
//! parent's (coloured by [`Kind`]), the `/dev/mem` verdicts of read and
//! mmap as two stripes beside the address axis, the gap-compressed axis
//! with the address of every boundary, and one label per resource (name,
//! range, size), indented by depth like `/proc/iomem`, joined to its box by
//! a leader line.
//!
//! Columns, left to right: boundary addresses, the axis, the read stripe,
//! the mmap stripe, the boxes, the labels. Each label starts on the line of
//! its resource's first address; the axis gives every boundary at least as
//! many lines as resources start there ([`super::Axis::build`]), so labels
//! need not move, and [`super::spread`] guarantees it anyway.

use super::{
    Anchor, Axis, BoxF, FONT, Header, Kind, LINE, MARGIN, SMALL_FONT, Svg, Swatch, Verdict, hex, label_name, text_width,
};
use crate::output::size::human;

/// The most characters of a name a label shows (the box's tooltip has the
/// whole name).
const NAME_CHARS: usize = 40;
/// Verdict runs whose boundaries become axis boundaries, at most (more are
/// drawn inside the pieces, linearly).
const RUN_BOUNDS_LIMIT: usize = 256;
/// The thinnest piece of a verdict stripe: thinner runs are merged (into
/// `Mixed` when they differ), so a stripe has at most one piece per
/// `MIN_PIECE` pixels however many runs there are.
const MIN_PIECE: f64 = 2.0;
/// Width of the box column.
const BOX_WIDTH: f64 = 240.0;
/// Inset of a box per level of depth, on each side.
const INSET: f64 = 9.0;
/// The narrowest box.
const MIN_BOX: f64 = 40.0;
/// Width of a verdict stripe.
const STRIPE: f64 = 24.0;
/// Deepest indentation of labels, in levels.
const MAX_INDENT: usize = 12;
/// The narrowest picture.
const MIN_WIDTH: f64 = 760.0;

/// One resource to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapResource {
    /// First address.
    pub(crate) start: u64,
    /// Last address (inclusive).
    pub(crate) end: u64,
    /// Depth below the root (0 = top level).
    pub(crate) depth: usize,
    /// Its name (`None`: the kernel prints `<BAD>`).
    pub(crate) name: Option<String>,
    /// What it is.
    pub(crate) kind: Kind,
    /// How many resources it stands for: 1, or more for an aggregate of a
    /// huge tree.
    pub(crate) count: u64,
}

impl MapResource {
    /// The first address after it (an inverted resource, `start > end`,
    /// which `adjust_resource` can make, is drawn as empty).
    fn after(&self) -> u128 {
        u128::from(self.end.max(self.start)) + 1
    }
}

/// A run of pages with the same `/dev/mem` results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerdictRun {
    /// First address.
    pub(crate) start: u64,
    /// Last address (inclusive).
    pub(crate) end: u64,
    /// `pread` of a whole page.
    pub(crate) read: Verdict,
    /// `mmap` of a page.
    pub(crate) mmap: Verdict,
    /// The read's result and rule, for the tooltip (`EPERM, page.x86-ram`).
    pub(crate) read_why: String,
    /// The mmap's result and rule.
    pub(crate) mmap_why: String,
}

/// Everything the picture shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MapModel {
    /// The title.
    pub(crate) title: String,
    /// Lines under the title (source, kernel, assumptions, what was left
    /// out).
    pub(crate) notes: Vec<String>,
    /// The resources in `/proc` order (pre-order, parents first).
    pub(crate) resources: Vec<MapResource>,
    /// The verdict runs in address order (empty: not judged).
    pub(crate) runs: Vec<VerdictRun>,
}

/// A resource as laid out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Placed {
    /// Index in [`MapModel::resources`].
    pub(crate) index: usize,
    /// Its box.
    pub(crate) rect: BoxF,
    /// Read over the whole resource.
    pub(crate) read: Verdict,
    /// Mmap over the whole resource.
    pub(crate) mmap: Verdict,
    /// The label's text.
    pub(crate) label: String,
    /// The label's left edge.
    pub(crate) label_x: f64,
    /// The label's baseline.
    pub(crate) label_y: f64,
}

/// A verdict stripe's piece.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StripePiece {
    /// Its box.
    pub(crate) rect: BoxF,
    /// Its verdict (`Mixed` where runs too small to draw were merged).
    pub(crate) verdict: Verdict,
    /// The first and last run it shows.
    pub(crate) runs: (usize, usize),
}

/// The layout of a [`MapModel`], with y measured from the picture's top.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MapLayout {
    /// Width of the picture.
    pub(crate) width: f64,
    /// Height of the picture.
    pub(crate) height: f64,
    /// Title, notes and legend.
    header: Header,
    /// The address axis.
    pub(crate) axis: Axis,
    /// The resources.
    pub(crate) placed: Vec<Placed>,
    /// The read stripe.
    pub(crate) read: Vec<StripePiece>,
    /// The mmap stripe.
    pub(crate) mmap: Vec<StripePiece>,
    /// The top of the axis (below the header).
    top: f64,
    /// x of the axis line.
    axis_x: f64,
    /// x of the read stripe (the mmap stripe follows).
    stripe_x: f64,
    /// x of the box column.
    box_x: f64,
}

/// The characters of the longest text in `texts`.
fn longest<'a>(texts: impl Iterator<Item = &'a str>) -> usize {
    texts.map(|t| t.chars().count()).max().unwrap_or(0)
}

/// A resource's label: name, range, size (and the count of an aggregate).
fn label(r: &MapResource) -> String {
    let size = human(u128::from(r.end.wrapping_sub(r.start)) + 1);
    let name = label_name(r.name.as_deref(), NAME_CHARS);
    format!("{name}  {:#x}-{:#x}  {size}", r.start, r.end)
}

/// For each run, the index of the next run with another verdict (or the
/// run count): a resource's verdict is one lookup however many runs it
/// spans.
fn next_change(runs: &[VerdictRun], get: impl Fn(&VerdictRun) -> Verdict) -> Vec<usize> {
    let mut next = vec![runs.len(); runs.len()];
    for i in (0..runs.len().saturating_sub(1)).rev() {
        next[i] = if get(&runs[i]) == get(&runs[i + 1]) { next[i + 1] } else { i + 1 };
    }
    next
}

/// The verdict over `[start, end]`: the runs' if they agree, `Mixed` if
/// not, `Unknown` if no run covers it.
fn verdict_over(
    runs: &[VerdictRun],
    next: &[usize],
    start: u64,
    end: u64,
    get: impl Fn(&VerdictRun) -> Verdict,
) -> Verdict {
    let first = runs.partition_point(|r| r.end < start);
    let last = runs.partition_point(|r| r.start <= end);
    if first >= last {
        return Verdict::Unknown;
    }
    if next[first] < last { Verdict::Mixed } else { get(&runs[first]) }
}

/// Lays the map out.
pub(crate) fn layout(model: &MapModel) -> MapLayout {
    let res = &model.resources;
    // Boundaries: 0, every start and end + 1, and the runs' when few.
    let top_end: u128 = res.iter().map(|r| r.after()).max().unwrap_or(0);
    let mut bounds: Vec<u128> = Vec::with_capacity(res.len() * 2 + 2);
    if !res.is_empty() {
        bounds.push(0);
    }
    for r in res {
        bounds.push(u128::from(r.start));
        bounds.push(r.after());
    }
    if model.runs.len() <= RUN_BOUNDS_LIMIT {
        for run in &model.runs {
            for b in [u128::from(run.start), u128::from(run.end) + 1] {
                if b < top_end {
                    bounds.push(b);
                }
            }
        }
    }
    bounds.sort_unstable();
    bounds.dedup();
    // Labels starting at each boundary.
    let mut starting = vec![0usize; bounds.len()];
    for r in res {
        if let Ok(i) = bounds.binary_search(&u128::from(r.start)) {
            starting[i] += 1;
        }
    }
    let covered = top_level_cover(res);

    // Columns.
    let ticks: Vec<String> = bounds.iter().map(|&b| hex(b)).collect();
    let tick_w = text_width(longest(ticks.iter().map(String::as_str)), FONT);
    let axis_x = MARGIN + tick_w + 8.0;
    let stripe_x = axis_x + 10.0;
    let box_x = stripe_x + 2.0 * STRIPE + 16.0;
    let label_x0 = box_x + BOX_WIDTH + 24.0;
    let indent = text_width(2, FONT);
    let labels: Vec<String> = res.iter().map(label).collect();
    let label_right = res
        .iter()
        .zip(&labels)
        .map(|(r, l)| indent * r.depth.min(MAX_INDENT) as f64 + text_width(l.chars().count(), FONT))
        .fold(0.0, f64::max);
    let width = (label_x0 + label_right + MARGIN).max(MIN_WIDTH);

    // Header.
    let kinds: Vec<Swatch> = Kind::ALL
        .iter()
        .filter(|&&k| k != Kind::Aggregate || res.iter().any(|r| r.kind == Kind::Aggregate))
        .map(|k| Swatch { fill: k.fill(), label: k.label().to_string() })
        .collect();
    let verdicts: Vec<Swatch> = if model.runs.is_empty() {
        Vec::new()
    } else {
        Verdict::SHOWN.iter().map(|v| Swatch { fill: v.fill(), label: v.label().to_string() }).collect()
    };
    let header = Header::layout(width, 0.0, &model.title, &model.notes, &[kinds, verdicts]);
    let header_bottom = header.bottom;

    let axis_top = header_bottom + 24.0;
    let axis = Axis::build(&bounds, &covered, |i| (starting[i] as f64 * LINE).max(LINE), axis_top);

    // Resources.
    let read_next = next_change(&model.runs, |r| r.read);
    let mmap_next = next_change(&model.runs, |r| r.mmap);
    let mut placed = Vec::with_capacity(res.len());
    let mut k_at = vec![0usize; bounds.len()];
    let mut wanted = Vec::with_capacity(res.len());
    for (index, (r, text)) in res.iter().zip(labels).enumerate() {
        let start = u128::from(r.start);
        let (y0, y1) = (axis.y(start), axis.y(r.after()));
        let inset = (r.depth as f64 * INSET).min((BOX_WIDTH - MIN_BOX) / 2.0);
        let rect = BoxF { x0: box_x + inset, y0, x1: box_x + BOX_WIDTH - inset, y1 };
        let k = match bounds.binary_search(&start) {
            Ok(i) => {
                k_at[i] += 1;
                k_at[i] - 1
            }
            Err(_) => 0,
        };
        wanted.push(y0 + k as f64 * LINE + FONT);
        let (read, mmap) = if model.runs.is_empty() {
            (Verdict::Unknown, Verdict::Unknown)
        } else {
            (
                verdict_over(&model.runs, &read_next, r.start, r.end.max(r.start), |v| v.read),
                verdict_over(&model.runs, &mmap_next, r.start, r.end.max(r.start), |v| v.mmap),
            )
        };
        let label_x = label_x0 + indent * r.depth.min(MAX_INDENT) as f64;
        placed.push(Placed { index, rect, read, mmap, label: text, label_x, label_y: 0.0 });
    }
    super::spread(&mut wanted, LINE);
    for (p, y) in placed.iter_mut().zip(&wanted) {
        p.label_y = *y;
    }
    let labels_bottom = wanted.last().copied().unwrap_or(0.0);

    let read = stripe(&model.runs, &axis, stripe_x, |r| r.read);
    let mmap = stripe(&model.runs, &axis, stripe_x + STRIPE + 4.0, |r| r.mmap);
    let bottom = axis.bottom().max(labels_bottom).max(axis_top);
    let height = bottom + LINE + MARGIN;
    MapLayout { width, height, header, axis, placed, read, mmap, top: axis_top, axis_x, stripe_x, box_x }
}

/// The `[start, end)` ranges of the top-level resources, merged.
fn top_level_cover(res: &[MapResource]) -> Vec<(u128, u128)> {
    let mut cover: Vec<(u128, u128)> = Vec::new();
    let mut tops: Vec<(u128, u128)> =
        res.iter().filter(|r| r.depth == 0).map(|r| (u128::from(r.start), r.after())).collect();
    tops.sort_unstable();
    for (s, e) in tops {
        match cover.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => cover.push((s, e)),
        }
    }
    cover
}

/// A verdict stripe: one piece per run, runs thinner than [`MIN_PIECE`]
/// merged with their neighbours (`Mixed` when they differ), so that the
/// picture stays small however many runs there are.
fn stripe(runs: &[VerdictRun], axis: &Axis, x: f64, get: impl Fn(&VerdictRun) -> Verdict) -> Vec<StripePiece> {
    let mut out: Vec<StripePiece> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let (y0, y1) = (axis.y(u128::from(r.start)), axis.y(u128::from(r.end.max(r.start)) + 1));
        let v = get(r);
        match out.last_mut() {
            // The same verdict continues, or the piece so far is thinner
            // than MIN_PIECE: one piece.
            Some(p) if p.rect.y1 >= y0 && (p.verdict == v || p.rect.y1 - p.rect.y0 < MIN_PIECE) => {
                p.verdict = p.verdict.merge(v);
                p.rect.y1 = p.rect.y1.max(y1);
                p.runs.1 = i;
            }
            _ => out.push(StripePiece { rect: BoxF { x0: x, y0, x1: x + STRIPE, y1 }, verdict: v, runs: (i, i) }),
        }
    }
    out
}

/// The picture as a standalone SVG document.
pub(crate) fn to_svg(model: &MapModel) -> String {
    let l = layout(model);
    let mut svg = Svg::new(l.width, l.height);
    render(&mut svg, model, &l, 0.0);
    svg.finish()
}

/// Draws a laid-out map into `svg`, `dy` below the top.
pub(crate) fn render(svg: &mut Svg, model: &MapModel, l: &MapLayout, dy: f64) {
    l.header.render(svg, dy);
    if model.resources.is_empty() {
        svg.text(MARGIN, l.top + dy + FONT, FONT, Anchor::Start, "", "(no resources)");
        return;
    }
    let (top, bottom) = (l.axis.top() + dy, l.axis.bottom() + dy);

    // Stripe headers.
    if !model.runs.is_empty() {
        for (i, name) in ["read", "mmap"].iter().enumerate() {
            let x = l.stripe_x + i as f64 * (STRIPE + 4.0) + STRIPE / 2.0;
            svg.text(x, top - 8.0, SMALL_FONT, Anchor::Middle, "fill=\"#333333\"", name);
        }
    }
    // The axis line, broken at the compressed holes.
    let mut y = top;
    for s in l.axis.segs.iter().filter(|s| s.broken) {
        let (a, b) = (s.y + dy + s.h / 2.0 - 4.0, s.y + dy + s.h / 2.0 + 4.0);
        svg.line((l.axis_x, y), (l.axis_x, a), "#333333", 1.0, "");
        for yy in [a, b] {
            svg.line((l.axis_x - 5.0, yy + 2.0), (l.axis_x + 5.0, yy - 2.0), "#333333", 1.0, "");
        }
        y = b;
    }
    svg.line((l.axis_x, y), (l.axis_x, bottom), "#333333", 1.0, "");

    // Stripes.
    for (pieces, what) in [(&l.read, "read"), (&l.mmap, "mmap")] {
        for p in pieces.iter() {
            let (first, last) = (&model.runs[p.runs.0], &model.runs[p.runs.1]);
            let why = |r: &VerdictRun| if what == "read" { r.read_why.clone() } else { r.mmap_why.clone() };
            let title = if p.runs.0 == p.runs.1 {
                format!("{:#x}-{:#x} {what}: {}", first.start, first.end, why(first))
            } else {
                format!(
                    "{:#x}-{:#x} {what}: {} runs, {}",
                    first.start,
                    last.end,
                    p.runs.1 - p.runs.0 + 1,
                    p.verdict.id()
                )
            };
            let rect = BoxF { y0: p.rect.y0 + dy, y1: p.rect.y1 + dy, ..p.rect };
            let attrs = format!("class=\"verdict\" data-call=\"{what}\" data-verdict=\"{}\"", p.verdict.id());
            svg.rect(rect, p.verdict.fill(), &attrs, Some(&title));
        }
    }

    // Boxes, parents first.
    for p in &l.placed {
        let r = &model.resources[p.index];
        let name = r.name.as_deref().unwrap_or("<BAD>");
        let title = format!(
            "{} {:#x}-{:#x} ({}): {}; /dev/mem read {}, mmap {}",
            name,
            r.start,
            r.end,
            human(u128::from(r.end.wrapping_sub(r.start)) + 1),
            r.kind.label(),
            p.read.id(),
            p.mmap.id()
        );
        let attrs = format!(
            "class=\"resource\" data-start=\"{:#x}\" data-end=\"{:#x}\" data-depth=\"{}\" data-name=\"{}\" \
             data-kind=\"{}\" data-read=\"{}\" data-mmap=\"{}\" data-count=\"{}\" stroke=\"#424242\" \
             stroke-width=\"0.6\"",
            r.start,
            r.end,
            r.depth,
            super::xml(name),
            r.kind.id(),
            p.read.id(),
            p.mmap.id(),
            r.count
        );
        let rect = BoxF { y0: p.rect.y0 + dy, y1: p.rect.y1 + dy, ..p.rect };
        svg.rect(rect, r.kind.fill(), &attrs, Some(&title));
    }
    // Holes.
    for s in l.axis.segs.iter().filter(|s| s.broken) {
        let (y0, mid) = (s.y + dy, s.y + dy + s.h / 2.0);
        let (x0, x1) = (l.box_x, l.box_x + BOX_WIDTH);
        for yy in [y0 + 3.0, y0 + s.h - 3.0] {
            svg.line((x0, yy), (x1, yy), "#9e9e9e", 0.8, "stroke-dasharray=\"4 3\"");
        }
        let text = format!("gap {}", human(s.end - s.start));
        svg.text((x0 + x1) / 2.0, mid + 4.0, FONT, Anchor::Middle, "fill=\"#757575\" class=\"gap\"", &text);
    }
    // Leader lines and labels.
    for p in &l.placed {
        let mid = p.label_y + dy - 4.0;
        let from_y = mid.clamp(p.rect.y0 + dy, p.rect.y1 + dy);
        svg.line((p.rect.x1, from_y), (p.label_x - 3.0, mid), "#9e9e9e", 0.6, "");
        svg.text(p.label_x, p.label_y + dy, FONT, Anchor::Start, "class=\"label\"", &p.label);
    }
    // Boundary addresses.
    let mut last_tick = f64::NEG_INFINITY;
    for (i, s) in l.axis.segs.iter().enumerate() {
        tick(svg, l.axis_x, s.y + dy, s.start, &mut last_tick);
        if i + 1 == l.axis.segs.len() {
            tick(svg, l.axis_x, s.y + s.h + dy, s.end, &mut last_tick);
        }
    }
}

/// One boundary's tick and address (skipped if it would touch the one
/// above: only possible for the final boundary of a tiny axis).
fn tick(svg: &mut Svg, axis_x: f64, y: f64, addr: u128, last: &mut f64) {
    svg.line((axis_x - 4.0, y), (axis_x, y), "#333333", 1.0, "");
    if y - *last >= LINE - 0.01 {
        svg.text(axis_x - 6.0, y + 4.0, FONT, Anchor::End, "class=\"address\"", &hex(addr));
        *last = y;
    }
}

#[cfg(test)]
mod tests {
    use super::super::text_box;
    use super::*;

    fn res(start: u64, end: u64, depth: usize, name: &str, kind: Kind) -> MapResource {
        MapResource { start, end, depth, name: Some(name.to_string()), kind, count: 1 }
    }

    fn run(start: u64, end: u64, read: Verdict, mmap: Verdict) -> VerdictRun {
        VerdictRun { start, end, read, mmap, read_why: String::new(), mmap_why: String::new() }
    }

    fn example() -> MapModel {
        MapModel {
            title: "test".into(),
            notes: vec!["a note".into()],
            resources: vec![
                res(0, 0xfff, 0, "Reserved", Kind::Reserved),
                res(0x1000, 0x9fbff, 0, "System RAM", Kind::Ram),
                res(0x100000, 0x7fffffff, 0, "System RAM", Kind::Ram),
                res(0x1000000, 0x1e01d31, 1, "Kernel code", Kind::Kernel),
                res(0x1_0000_0000, 0x1_ffff_ffff, 0, "virtio0", Kind::VirtioUnplugged),
                res(0x1_0000_0000, 0x1_17ff_ffff, 1, "System RAM (virtio_mem)", Kind::VirtioPlugged),
                res(0xfd_0000_0000, 0xff_ffff_ffff, 0, "Reserved", Kind::Reserved),
            ],
            runs: vec![
                run(0, 0xfff, Verdict::Exclusive, Verdict::Exclusive),
                run(0x1000, 0xfffff, Verdict::Zeros, Verdict::Ok),
                run(0x100000, 0x7fffffff, Verdict::Refused, Verdict::Refused),
                run(0x8000_0000, 0xffff_ffff, Verdict::Ok, Verdict::Ok),
                run(0x1_0000_0000, 0x1_ffff_ffff, Verdict::Exclusive, Verdict::Exclusive),
                run(0x2_0000_0000, u64::MAX, Verdict::Refused, Verdict::Ok),
            ],
        }
    }

    /// Every text box of a layout, as the renderer places them.
    fn boxes(svg: &str) -> Vec<BoxF> {
        // A light parser for our own output: x, y, font-size, anchor, text.
        let mut out = Vec::new();
        for part in svg.split("<text ").skip(1) {
            let attr = |name: &str| -> Option<String> {
                let i = part.find(&format!("{name}=\""))? + name.len() + 2;
                Some(part[i..].split('"').next()?.to_string())
            };
            let x: f64 = attr("x").unwrap().parse().unwrap();
            let y: f64 = attr("y").unwrap().parse().unwrap();
            let size: f64 = attr("font-size").unwrap().parse().unwrap();
            let anchor = match attr("text-anchor").as_deref() {
                Some("middle") => Anchor::Middle,
                Some("end") => Anchor::End,
                _ => Anchor::Start,
            };
            let content = part.split_once('>').unwrap().1.split("</text>").next().unwrap();
            let content =
                content.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", "\"");
            out.push(text_box(x, y, size, content.chars().count(), anchor));
        }
        out
    }

    #[test]
    fn labels_never_overlap_and_every_resource_is_drawn() {
        let m = example();
        let svg = to_svg(&m);
        let b = boxes(&svg);
        for i in 0..b.len() {
            for j in i + 1..b.len() {
                assert!(!b[i].overlaps(&b[j]), "{:?} {:?}", b[i], b[j]);
            }
        }
        for r in &m.resources {
            assert!(svg.contains(&format!("data-start=\"{:#x}\" data-end=\"{:#x}\"", r.start, r.end)), "{r:?}");
        }
        assert!(svg.contains("gap "), "the hole up to 0xfd00000000 is compressed");
    }

    #[test]
    fn resource_verdicts_come_from_the_runs() {
        let m = example();
        let l = layout(&m);
        let v: Vec<(Verdict, Verdict)> = l.placed.iter().map(|p| (p.read, p.mmap)).collect();
        assert_eq!(v[0], (Verdict::Exclusive, Verdict::Exclusive));
        assert_eq!(v[1], (Verdict::Zeros, Verdict::Ok));
        assert_eq!(v[2], (Verdict::Refused, Verdict::Refused));
        assert_eq!(v[4], (Verdict::Exclusive, Verdict::Exclusive));
        let mut mixed = m.clone();
        mixed.resources.push(res(0, 0x1ffff, 0, "spanning", Kind::Device));
        mixed.resources.sort_by_key(|r| (r.start, r.depth));
        let l = layout(&mixed);
        let p = l.placed.iter().find(|p| mixed.resources[p.index].name.as_deref() == Some("spanning")).unwrap();
        assert_eq!(p.read, Verdict::Mixed);
    }

    #[test]
    fn boxes_nest_and_follow_addresses() {
        let l = layout(&example());
        let (ram, code) = (&l.placed[2].rect, &l.placed[3].rect);
        assert!(code.x0 > ram.x0 && code.x1 < ram.x1);
        assert!(code.y0 >= ram.y0 && code.y1 <= ram.y1);
        let ys: Vec<f64> = l.placed.iter().map(|p| p.rect.y0).collect();
        assert!(ys.windows(2).all(|w| w[0] <= w[1]));
        // A 4 KiB resource is at least a line tall.
        assert!(l.placed[0].rect.y1 - l.placed[0].rect.y0 >= LINE);
    }

    #[test]
    fn degenerate_inputs() {
        let empty = MapModel { title: "nothing".into(), ..MapModel::default() };
        let svg = to_svg(&empty);
        assert!(svg.contains("(no resources)"));
        let whole =
            MapModel { resources: vec![res(0, u64::MAX, 0, "everything <&>", Kind::Device)], ..MapModel::default() };
        let svg = to_svg(&whole);
        assert!(svg.contains("0x10000000000000000"));
        assert!(svg.contains("everything &lt;&amp;&gt;"));
        let top = MapModel {
            resources: vec![
                res(u64::MAX, u64::MAX, 0, "last byte", Kind::Device),
                res(5, 4, 0, "inverted", Kind::Device),
            ],
            ..MapModel::default()
        };
        let _ = to_svg(&top);
    }

    /// A pseudo-random number below `n` (a linear congruential generator).
    fn rnd(seed: &mut u64, n: u64) -> u64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 33) % n.max(1)
    }

    /// Random nested resources inside `[lo, hi]`, in pre-order.
    fn random_tree(seed: &mut u64, lo: u64, hi: u64, depth: usize, out: &mut Vec<MapResource>) {
        let mut at = lo;
        while at <= hi && out.len() < 400 {
            let room = hi - at;
            let len = match rnd(seed, 4) {
                0 => rnd(seed, 0x1000),
                1 => rnd(seed, 1 << 30),
                2 => room,
                _ => room / (rnd(seed, 8) + 1),
            }
            .min(room);
            let end = at + len;
            let kind = Kind::ALL[rnd(seed, Kind::ALL.len() as u64) as usize];
            out.push(MapResource { start: at, end, depth, name: Some(format!("r{}", out.len())), kind, count: 1 });
            if depth < 6 && rnd(seed, 2) == 0 {
                random_tree(seed, at, end, depth + 1, out);
            }
            let bits = rnd(seed, 60) + 1;
            match end.checked_add(1 + rnd(seed, 1 << bits)) {
                Some(n) => at = n,
                None => break,
            }
        }
    }

    #[test]
    fn random_trees_keep_their_promises() {
        for s in 0..60u64 {
            let mut seed = s;
            let mut resources = Vec::new();
            let lo = if s % 3 == 0 { 0 } else { s << 20 };
            random_tree(&mut seed, lo, u64::MAX, 0, &mut resources);
            let runs = resources
                .iter()
                .filter(|r| r.depth == 0)
                .map(|r| run(r.start, r.end, Verdict::SHOWN[(r.start % 4) as usize], Verdict::Ok))
                .collect();
            let m = MapModel { title: format!("random {s}"), notes: vec![], resources, runs };
            // `finish` checks (in tests) that no two texts overlap.
            let svg = to_svg(&m);
            let l = layout(&m);
            assert_eq!(l.placed.len(), m.resources.len());
            for p in &l.placed {
                assert!(p.rect.y1 - p.rect.y0 >= LINE - 0.01, "seed {s}: {p:?}");
            }
            for r in &m.resources {
                assert!(svg.contains(&format!("data-start=\"{:#x}\" data-end=\"{:#x}\"", r.start, r.end)));
            }
        }
    }

    #[test]
    fn deterministic() {
        assert_eq!(to_svg(&example()), to_svg(&example()));
    }

    #[test]
    fn many_runs_make_a_small_stripe() {
        let mut m = example();
        m.resources = vec![res(0, (1 << 40) - 1, 0, "big", Kind::Ram)];
        m.runs = (0..100_000u64)
            .map(|i| {
                let v = if i % 2 == 0 { Verdict::Ok } else { Verdict::Refused };
                run(i << 24, ((i + 1) << 24) - 1, v, v)
            })
            .collect();
        let l = layout(&m);
        assert!(l.read.len() < 500, "{}", l.read.len());
        assert!(l.read.iter().any(|p| p.verdict == Verdict::Mixed));
    }
}
