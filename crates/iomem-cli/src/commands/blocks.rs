//! `iomem blocks`: the memory blocks as lsmem shows them, with the
//! virtio-mem device of each row.

use std::io::Write;

use iomem::Range;
use serde::Serialize;

use crate::blocks::{Blocks, Row, lsmem_size, rows};
use crate::cli::BlocksArgs;
use crate::system::{LoadRequest, load};

#[derive(Serialize)]
struct RowJson<'a> {
    start: u64,
    end: u64,
    size: u64,
    state: &'a str,
    blocks: [u64; 2],
    zones: &'a [String],
    device: Option<&'a str>,
}

#[derive(Serialize)]
struct Doc<'a> {
    memory: Vec<RowJson<'a>>,
    block_size: u64,
    online: u64,
    offline: u64,
    auto_online_blocks: Option<&'a str>,
}

/// Runs `blocks`.
pub(crate) fn run(args: &BlocksArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let source = args.source.source();
    let view = Blocks::read(&source)?;
    // The device regions, from /proc/iomem of the same system.
    let devices = match load(source.clone(), &LoadRequest::default()) {
        Ok(sys) => iomem_devmem::Devmem::new(&sys.dump.tree, sys.policy.clone())
            .device_regions(Range::FULL)
            .into_iter()
            .map(|g| {
                let name = sys.dump.tree.get(g.resource).ok().and_then(|v| v.name).unwrap_or("<BAD>").to_string();
                (g.range.start, g.range.end, name)
            })
            .collect(),
        Err(e) => {
            writeln!(warn, "iomem: warning: the DEVICE column is unknown: {e}")?;
            Vec::new()
        }
    };
    let table = rows(&view, args.all, &devices);
    let (online, offline) = view.totals();
    if args.json {
        let doc = Doc {
            memory: table
                .iter()
                .map(|r| RowJson {
                    start: r.start,
                    end: r.end,
                    size: r.size(),
                    state: &r.state,
                    blocks: [r.first, r.last],
                    zones: &r.zones,
                    device: r.device.as_deref(),
                })
                .collect(),
            block_size: view.block_size,
            online,
            offline,
            auto_online_blocks: view.auto_online.as_deref(),
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(());
    }
    text(&table, &view, out)?;
    Ok(())
}

fn text(table: &[Row], view: &Blocks, out: &mut dyn Write) -> std::io::Result<()> {
    let cells: Vec<[String; 6]> = table
        .iter()
        .map(|r| {
            [
                format!("{:#018x}-{:#018x}", r.start, r.end),
                lsmem_size(r.size()),
                r.state.clone(),
                r.block_text(),
                r.zones_text(),
                r.device.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    let heads = ["RANGE", "SIZE", "STATE", "BLOCK", "ZONES", "DEVICE"];
    let mut w = heads.map(str::len);
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            w[i] = w[i].max(v.len());
        }
    }
    // lsmem's alignment: RANGE left, the rest right-aligned.
    let line = |c: &[&str; 6]| {
        format!(
            "{:<w0$} {:>w1$} {:>w2$} {:>w3$} {:>w4$} {:<w5$}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5]
        )
        .trim_end()
        .to_string()
    };
    writeln!(out, "{}", line(&heads))?;
    for c in &cells {
        let refs = [c[0].as_str(), c[1].as_str(), c[2].as_str(), c[3].as_str(), c[4].as_str(), c[5].as_str()];
        writeln!(out, "{}", line(&refs))?;
    }
    let (online, offline) = view.totals();
    writeln!(out)?;
    writeln!(out, "Memory block size:    {:>6}", lsmem_size(view.block_size))?;
    writeln!(out, "Total online memory:  {:>6}", lsmem_size(online))?;
    writeln!(out, "Total offline memory: {:>6}", lsmem_size(offline))?;
    Ok(())
}
