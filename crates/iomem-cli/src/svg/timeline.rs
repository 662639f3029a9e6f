//! The picture of a virtio-mem simulation: for each device, a band with
//! one column per step showing its region top (first address) to bottom
//! (last): the plugged ranges, the unplugged rest, the part beyond the
//! usable region, the memory blocks the guest added there (online or
//! offline) and a mark where the requested size would end; under the band,
//! the plugged and requested sizes of each step. Below the timeline, the
//! map of the last step ([`super::map`]).
//!
//! Within a band, addresses are linear (a device region is one piece of
//! the map); a plugged range thinner than a pixel is still drawn one pixel
//! tall, and ranges closer than a pixel are drawn as one (their plugged
//! bytes add up in `data-bytes`).

use super::map::{self, MapModel};
use super::{Anchor, BoxF, FONT, Header, LINE, MARGIN, Svg, Swatch, hex, text_width, truncate};
use crate::output::size::human;

/// Height of a device's band.
const BAND: f64 = 220.0;
/// The narrowest column.
const MIN_COLUMN: f64 = 100.0;
/// Space between columns.
const COLUMN_GAP: f64 = 12.0;
/// Width of the memory-block stripe at the right of a column.
const BLOCK_STRIPE: f64 = 8.0;
/// The most characters of a step name shown (the tooltip has all).
const STEP_CHARS: usize = 24;
/// The most steps drawn.
pub(crate) const MAX_STEPS: usize = 120;
/// The narrowest picture.
const MIN_WIDTH: f64 = 760.0;
/// Fills.
const PLUGGED: &str = "#26a69a";
const ONLINE: &str = "#1565c0";
const OFFLINE: &str = "#ef6c00";
const REQUESTED: &str = "#d32f2f";
const OUTSIDE: &str = "#ffffff";

/// A virtio-mem device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TimelineDevice {
    /// How to call it (`vm0 = virtio0`).
    pub(crate) label: String,
    /// Region start.
    pub(crate) addr: u64,
    /// Region size (bytes, at least 1).
    pub(crate) size: u64,
    /// Device block size.
    pub(crate) block_size: u64,
}

/// A device after one step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DeviceStep {
    /// Plugged ranges (inclusive), sorted and disjoint.
    pub(crate) plugged: Vec<(u64, u64)>,
    /// The plugged ranges are known block by block (from the device's
    /// requests); else they are the memory the guest added, which can be
    /// more than what is plugged.
    pub(crate) exact: bool,
    /// Memory-block runs inside the region: first, last address, online.
    pub(crate) blocks: Vec<(u64, u64, bool)>,
    /// The requested size.
    pub(crate) requested: u64,
    /// The plugged size the device reports.
    pub(crate) plugged_size: u64,
    /// The usable region size.
    pub(crate) usable: u64,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TimelineStep {
    /// Its name.
    pub(crate) name: String,
    /// Virtual time at its end, ms.
    pub(crate) time_ms: u64,
    /// Each device, in [`TimelineModel::devices`] order.
    pub(crate) devices: Vec<DeviceStep>,
}

/// Everything the picture shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimelineModel {
    /// The title.
    pub(crate) title: String,
    /// Lines under the title.
    pub(crate) notes: Vec<String>,
    /// The devices.
    pub(crate) devices: Vec<TimelineDevice>,
    /// The steps, the starting state first.
    pub(crate) steps: Vec<TimelineStep>,
    /// The map after the last step.
    pub(crate) final_map: Option<MapModel>,
}

/// Pieces of `ranges` (sorted) as drawn: ranges closer than a pixel are
/// one piece; each piece is (top, bottom, first, last, bytes).
fn pieces(ranges: &[(u64, u64)], y: impl Fn(u128) -> f64) -> Vec<(f64, f64, u64, u64, u128)> {
    let mut out: Vec<(f64, f64, u64, u64, u128)> = Vec::new();
    for &(s, e) in ranges {
        let e = e.max(s);
        let (y0, y1) = (y(u128::from(s)), y(u128::from(e) + 1));
        let bytes = u128::from(e - s) + 1;
        match out.last_mut() {
            Some(p) if y0 - p.1 < 1.0 => {
                p.1 = p.1.max(y1);
                p.3 = e;
                p.4 += bytes;
            }
            _ => out.push((y0, y1, s, e, bytes)),
        }
    }
    for p in &mut out {
        // At least a pixel.
        p.1 = p.1.max(p.0 + 1.0);
    }
    out
}

/// The picture as a standalone SVG document.
pub(crate) fn to_svg(model: &TimelineModel) -> String {
    let steps = &model.steps[..model.steps.len().min(MAX_STEPS)];
    let mut notes = model.notes.clone();
    if model.steps.len() > MAX_STEPS {
        notes.push(format!("showing the first {MAX_STEPS} of {} steps", model.steps.len()));
    }
    // Columns.
    let names: Vec<String> =
        steps.iter().map(|s| truncate(&crate::output::text::escape(&s.name), STEP_CHARS)).collect();
    let col = names.iter().map(|n| text_width(n.chars().count(), FONT) + 8.0).fold(MIN_COLUMN, f64::max);
    let ticks: Vec<Vec<(f64, String)>> = model
        .devices
        .iter()
        .map(|d| {
            (0..=4u32)
                .map(|q| {
                    let at = u128::from(d.addr) + u128::from(d.size.max(1)) * u128::from(q) / 4;
                    (BAND * f64::from(q) / 4.0, hex(at))
                })
                .collect()
        })
        .collect();
    let tick_chars = ticks.iter().flatten().map(|(_, t)| t.chars().count()).max().unwrap_or(0);
    let x0 = MARGIN + text_width(tick_chars, FONT) + 14.0;
    let columns_right = x0 + steps.len() as f64 * (col + COLUMN_GAP);
    let labels: Vec<String> = model
        .devices
        .iter()
        .map(|d| {
            format!(
                "{}: {:#x}-{:#x}, {} in {} blocks",
                d.label,
                d.addr,
                u128::from(d.addr) + u128::from(d.size.max(1)) - 1,
                human(u128::from(d.size)),
                human(u128::from(d.block_size))
            )
        })
        .collect();
    let label_right = labels.iter().map(|l| MARGIN + text_width(l.chars().count(), FONT)).fold(0.0, f64::max);
    let map_layout = model.final_map.as_ref().map(map::layout);
    let width = (columns_right + MARGIN)
        .max(label_right + MARGIN)
        .max(MIN_WIDTH)
        .max(map_layout.as_ref().map_or(0.0, |l| l.width));

    let legend = vec![
        Swatch { fill: PLUGGED, label: "plugged".into() },
        Swatch { fill: "url(#unplugged)", label: "unplugged".into() },
        Swatch { fill: OUTSIDE, label: "beyond the usable region".into() },
        Swatch { fill: ONLINE, label: "memory block online".into() },
        Swatch { fill: OFFLINE, label: "memory block offline".into() },
        Swatch { fill: REQUESTED, label: "requested size".into() },
    ];
    let header = Header::layout(width, 0.0, &model.title, &notes, &[legend]);
    let steps_y = header.bottom + 14.0;
    let mut band_top = steps_y + 2.0 * LINE + 32.0;
    let mut bands = Vec::new();
    for _ in &model.devices {
        bands.push(band_top);
        band_top += BAND + 2.0 * LINE + 22.0 + 30.0;
    }
    let timeline_bottom = band_top;
    let height = timeline_bottom + map_layout.as_ref().map_or(MARGIN, |l| l.height);

    let mut svg = Svg::new(width, height);
    header.render(&mut svg, 0.0);
    for (i, (s, name)) in steps.iter().zip(&names).enumerate() {
        let cx = x0 + i as f64 * (col + COLUMN_GAP) + col / 2.0;
        svg.text(cx, steps_y + FONT, FONT, Anchor::Middle, "font-weight=\"bold\" class=\"step\"", name);
        let t = format!("t = {} s", s.time_ms as f64 / 1000.0);
        svg.text(cx, steps_y + FONT + LINE, FONT, Anchor::Middle, "fill=\"#555555\"", &t);
    }
    for (di, ((d, top), label)) in model.devices.iter().zip(&bands).zip(&labels).enumerate() {
        let top = *top;
        svg.text(MARGIN, top - 12.0, FONT, Anchor::Start, "font-weight=\"bold\"", label);
        for (dy, t) in &ticks[di] {
            svg.line((x0 - 8.0, top + dy), (x0 - 4.0, top + dy), "#333333", 1.0, "");
            svg.text(x0 - 10.0, top + dy + 4.0, FONT, Anchor::End, "class=\"address\"", t);
        }
        let size = u128::from(d.size.max(1));
        let y = |a: u128| top + BAND * (a.saturating_sub(u128::from(d.addr)).min(size)) as f64 / size as f64;
        for (i, s) in steps.iter().enumerate() {
            let x = x0 + i as f64 * (col + COLUMN_GAP);
            let Some(ds) = s.devices.get(di) else { continue };
            let area = BoxF { x0: x, y0: top, x1: x + col, y1: top + BAND };
            device_column(&mut svg, d, ds, &s.name, di, area, &y);
        }
    }
    if let (Some(m), Some(l)) = (&model.final_map, &map_layout) {
        map::render(&mut svg, m, l, timeline_bottom);
    }
    svg.finish()
}

/// One device's column in one step, in `area` (the region and the block
/// stripe; the sizes go below it).
fn device_column(
    svg: &mut Svg,
    d: &TimelineDevice,
    ds: &DeviceStep,
    step: &str,
    device: usize,
    area: BoxF,
    y: &dyn Fn(u128) -> f64,
) {
    let (x, col, top) = (area.x0, area.x1 - area.x0, area.y0);
    let region = BoxF { x0: x, y0: top, x1: x + col - BLOCK_STRIPE - 3.0, y1: top + BAND };
    let title = format!("{step}: {} unplugged", d.label);
    svg.rect(region, "url(#unplugged)", "class=\"region\" stroke=\"#424242\" stroke-width=\"0.6\"", Some(&title));
    let exact = if ds.exact { "true" } else { "false" };
    for (y0, y1, s, e, bytes) in pieces(&ds.plugged, y) {
        let attrs = format!(
            "class=\"plugged\" data-device=\"{device}\" data-step=\"{}\" data-start=\"{s:#x}\" data-end=\"{e:#x}\" \
             data-bytes=\"{bytes}\" data-exact=\"{exact}\"",
            super::xml(step)
        );
        let title = format!("{step}: plugged {s:#x}-{e:#x} ({})", human(bytes));
        svg.rect(BoxF { y0, y1, ..region }, PLUGGED, &attrs, Some(&title));
    }
    // Beyond the usable region: nothing can be plugged there.
    let usable_end = u128::from(d.addr) + u128::from(ds.usable);
    let uy = y(usable_end);
    if uy < region.y1 {
        let title = format!("{step}: beyond the usable region ({} usable)", human(u128::from(ds.usable)));
        svg.rect(BoxF { y0: uy, ..region }, OUTSIDE, "fill-opacity=\"0.7\" class=\"outside\"", Some(&title));
        svg.line((region.x0, uy), (region.x1, uy), "#757575", 1.0, "");
    }
    // Offline blocks last, so that one offline block in a terabyte of
    // online ones stays visible (a pixel at least).
    for (online, fill, state) in [(true, ONLINE, "online"), (false, OFFLINE, "offline")] {
        let runs: Vec<(u64, u64)> = ds.blocks.iter().filter(|b| b.2 == online).map(|&(s, e, _)| (s, e)).collect();
        for (y0, y1, s, e, _) in pieces(&runs, y) {
            let title = format!("{step}: memory blocks {s:#x}-{e:#x} {state}");
            let b = BoxF { x0: region.x1 + 2.0, y0, x1: region.x1 + 2.0 + BLOCK_STRIPE, y1 };
            svg.rect(b, fill, &format!("class=\"block\" data-state=\"{state}\""), Some(&title));
        }
    }
    let ry = y(u128::from(d.addr) + u128::from(ds.requested));
    svg.line((region.x0 - 2.0, ry), (region.x1 + 2.0, ry), REQUESTED, 1.5, "stroke-dasharray=\"4 2\"");
    let cx = x + col / 2.0;
    let plugged = format!("plug {}{}", if ds.exact { "" } else { "~" }, human(u128::from(ds.plugged_size)));
    svg.text(cx, top + BAND + 8.0 + FONT, FONT, Anchor::Middle, "class=\"size\"", &plugged);
    let requested = format!("req {}", human(u128::from(ds.requested)));
    svg.text(cx, top + BAND + 8.0 + FONT + LINE, FONT, Anchor::Middle, "class=\"size\" fill=\"#d32f2f\"", &requested);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(steps: usize, size: u64) -> TimelineModel {
        let dev = TimelineDevice { label: "vm0 = virtio0".into(), addr: 0x1_4000_0000, size, block_size: 2 << 20 };
        let steps = (0..steps)
            .map(|i| {
                let plugged_size = size / (steps as u64) * i as u64;
                let plugged = if plugged_size == 0 { vec![] } else { vec![(dev.addr, dev.addr + plugged_size - 1)] };
                TimelineStep {
                    name: format!("step-{i} <&>"),
                    time_ms: i as u64 * 1500,
                    devices: vec![DeviceStep {
                        blocks: plugged.iter().map(|&(s, e)| (s, e, i % 2 == 0)).collect(),
                        plugged,
                        exact: true,
                        requested: plugged_size,
                        plugged_size,
                        usable: size / 2,
                    }],
                }
            })
            .collect();
        TimelineModel {
            title: "t".into(),
            notes: vec![],
            devices: vec![dev],
            steps,
            final_map: Some(MapModel::default()),
        }
    }

    #[test]
    fn a_terabyte_timeline() {
        let svg = to_svg(&model(6, 1 << 40));
        assert!(svg.contains("step-5 &lt;&amp;&gt;"));
        assert!(svg.contains("class=\"plugged\""));
        assert!(svg.contains("0x10140000000"), "the region's end");
        assert_eq!(svg, to_svg(&model(6, 1 << 40)));
    }

    #[test]
    fn thin_ranges_merge_but_keep_their_bytes() {
        let ranges: Vec<(u64, u64)> = (0..10_000u64).map(|i| (i * 4096, i * 4096 + 2047)).collect();
        let p = pieces(&ranges, |a| a as f64 / 1e9);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].4, 10_000 * 2048);
        assert!(p[0].1 - p[0].0 >= 1.0);
    }

    #[test]
    fn degenerate_models() {
        let _ = to_svg(&TimelineModel::default());
        let mut m = model(3, 0);
        m.steps[1].devices.clear();
        let _ = to_svg(&m);
        let mut many = model(MAX_STEPS + 5, 1 << 30);
        many.final_map = None;
        assert!(to_svg(&many).contains(&format!("showing the first {MAX_STEPS}")));
    }
}
