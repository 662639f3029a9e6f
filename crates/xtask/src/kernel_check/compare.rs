//! The checks of one step: what `iomem` says inside the guest against what
//! the guest's kernel does and shows.

use std::collections::BTreeMap;

use serde_json::Value;

use super::addresses::Res;

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything compared was equal (with a note on what was compared).
    Match(String),
    /// The first difference (and how many there were).
    Diff(String),
    /// Not run, and why.
    Skipped(String),
}

/// One named check.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    /// The check's name (a column of the table).
    pub(crate) name: String,
    /// What came out.
    pub(crate) outcome: Outcome,
}

impl Check {
    pub(crate) fn new(name: &str, outcome: Outcome) -> Check {
        Check { name: name.to_string(), outcome }
    }
}

/// The first differing line of two texts.
pub(crate) fn first_line_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (e, a) = (String::from_utf8_lossy(expected), String::from_utf8_lossy(actual));
    let (el, al): (Vec<&str>, Vec<&str>) = (e.split('\n').collect(), a.split('\n').collect());
    for i in 0..el.len().max(al.len()) {
        let (x, y) = (el.get(i), al.get(i));
        if x != y {
            let show = |v: Option<&&str>| v.map_or("(nothing)".to_string(), |s| format!("{s:?}"));
            return Some(format!("line {}: {} vs {}", i + 1, show(x), show(y)));
        }
    }
    Some("the bytes differ".to_string())
}

/// `iomem show --format proc` against `/proc/iomem`.
pub(crate) fn show(proc_iomem: &[u8], show: &(i32, Vec<u8>, Vec<u8>)) -> Outcome {
    let (rc, out, err) = show;
    if *rc != 0 {
        return Outcome::Diff(format!("iomem show --format proc failed (exit {rc}): {}", first_line(err)));
    }
    match first_line_difference(proc_iomem, out) {
        None => Outcome::Match(format!("{} lines identical", proc_iomem.split(|&b| b == b'\n').count() - 1)),
        Some(d) => Outcome::Diff(format!("/proc/iomem vs iomem show: {d}")),
    }
}

fn first_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b).lines().find(|l| !l.trim().is_empty()).unwrap_or("").to_string()
}

/// The probe's line for one address and descriptor.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    /// The address.
    pub(crate) addr: u64,
    /// Its label.
    pub(crate) label: String,
    /// `O_RDONLY|O_SYNC` or `O_RDWR`.
    pub(crate) fd: String,
    /// open, mmap, pread1, pread16: `ok`, an errno name, `-` (not tried).
    pub(crate) ops: [String; 4],
    /// pread1 and pread16: `zero`, `data`, or `-`.
    pub(crate) data: [String; 2],
    /// The kpageflags word (`None` past the end, or an errno name).
    pub(crate) kpageflags: Option<String>,
}

/// Reads the probe's JSON lines.
pub(crate) fn parse_probe(out: &[u8]) -> anyhow::Result<Vec<Probe>> {
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(out).lines().filter(|l| !l.trim().is_empty()) {
        let j: Value = serde_json::from_str(line).map_err(|e| anyhow::anyhow!("probe line {line:?}: {e}"))?;
        let s = |k: &str| j.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        let addr = u64::from_str_radix(s("address").trim_start_matches("0x"), 16)?;
        v.push(Probe {
            addr,
            label: s("label"),
            fd: s("fd"),
            ops: [s("open"), s("mmap"), s("pread1"), s("pread16")],
            data: [s("pread1_data"), s("pread16_data")],
            kpageflags: j.get("kpageflags").and_then(Value::as_str).map(str::to_string),
        });
    }
    Ok(v)
}

/// The verdicts of `iomem check --json` at the targets `A` and `A+0x10`
/// of each address, in argument order.
pub(crate) fn parse_check(out: &[u8]) -> anyhow::Result<Vec<Value>> {
    let v: Value = serde_json::from_slice(out).map_err(|e| anyhow::anyhow!("iomem check --json: {e}"))?;
    v.as_array().cloned().ok_or_else(|| anyhow::anyhow!("iomem check --json did not print an array"))
}

fn verdict<'a>(elem: &'a Value, op: &str) -> (&'a str, Option<&'a str>, &'a str) {
    let o = &elem[op];
    (o["result"].as_str().unwrap_or("?"), o["uncertain"].as_str(), o["rule"].as_str().unwrap_or("?"))
}

/// Whether the kernel's result `kernel` (`ok` with `zero`/`data` for a
/// read) is what iomem's `result` says.
fn same(iomem: &str, kernel: &str, data: &str) -> bool {
    match iomem {
        "zeros" => kernel == "ok" && data == "zero",
        // Real memory may happen to hold zeros.
        "ok" => kernel == "ok",
        errno => kernel == errno,
    }
}

/// The probe against `iomem check` for one descriptor. `allow_uncertain`:
/// a difference where iomem marked its verdict with that uncertainty is
/// accepted (counted, not a mismatch).
pub(crate) fn devmem(
    probes: &[Probe],
    fd: &str,
    verdicts: &[Value],
    addresses: &[(u64, String)],
    allow_uncertain: Option<&str>,
) -> (usize, Vec<String>, usize) {
    let mut compared = 0;
    let mut diffs = Vec::new();
    let mut excused = 0;
    for (i, (addr, label)) in addresses.iter().enumerate() {
        let Some(p) = probes.iter().find(|p| p.addr == *addr && p.fd == fd) else {
            diffs.push(format!("{addr:#x} {label} {fd}: no probe result"));
            continue;
        };
        let (Some(one), Some(sixteen)) = (verdicts.get(2 * i), verdicts.get(2 * i + 1)) else {
            diffs.push(format!("{addr:#x} {label} {fd}: no iomem verdict"));
            continue;
        };
        let want = format!("{addr:#x}");
        if one["address"].as_str() != Some(want.as_str()) {
            diffs.push(format!("{addr:#x} {label}: iomem answered for {}", one["address"]));
            continue;
        }
        let ops: [(&str, &Value, &str, usize); 4] = [
            ("open", one, "open", 0),
            ("mmap", one, "mmap", 1),
            ("pread1", one, "read", 2),
            ("pread16", sixteen, "read", 3),
        ];
        for (name, elem, op, k) in ops {
            let kernel = &p.ops[k];
            if k > 0 && p.ops[0] != "ok" {
                // The probe tries nothing after a failed open.
                continue;
            }
            let data = if k >= 2 { p.data[k - 2].as_str() } else { "-" };
            let (result, uncertain, rule) = verdict(elem, op);
            compared += 1;
            if same(result, kernel, data) {
                continue;
            }
            if allow_uncertain.is_some() && uncertain == allow_uncertain {
                excused += 1;
                continue;
            }
            let kernel_shown = if kernel == "ok" && data != "-" { format!("ok ({data})") } else { kernel.clone() };
            diffs.push(format!(
                "{addr:#x} {label} {fd} {name}: kernel {kernel_shown}, iomem {result} (rule {rule}{})",
                uncertain.map_or(String::new(), |u| format!(", uncertain {u}"))
            ));
        }
    }
    (compared, diffs, excused)
}

/// One row of `lsmem -o RANGE,SIZE,STATE,BLOCK,ZONES`, with the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockRow {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) state: String,
    pub(crate) blocks: [u64; 2],
    pub(crate) zones: Vec<String>,
    pub(crate) device: Option<String>,
}

impl std::fmt::Display for BlockRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:#x}-{:#x} {} blocks {}-{} zones {} device {}",
            self.start,
            self.end,
            self.state,
            self.blocks[0],
            self.blocks[1],
            self.zones.join("/"),
            self.device.as_deref().unwrap_or("-")
        )
    }
}

/// The rows lsmem would print from the step's sysfs files (`memoryN/state`,
/// `memoryN/valid_zones`, `block_size_bytes`): consecutive blocks with the
/// same state and zones merged; also split where the virtio-mem device
/// region (from `/proc/iomem`) changes.
pub(crate) fn expected_blocks(sysfs: &BTreeMap<String, String>, iomem: &[Res]) -> anyhow::Result<Vec<BlockRow>> {
    let bs = sysfs
        .get("block_size_bytes")
        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
        .ok_or_else(|| anyhow::anyhow!("no block_size_bytes"))?;
    let regions = super::addresses::device_regions(iomem);
    let mut ids: Vec<u64> =
        sysfs.keys().filter_map(|k| k.strip_suffix("/state")?.strip_prefix("memory")?.parse().ok()).collect();
    ids.sort_unstable();
    let mut rows: Vec<BlockRow> = Vec::new();
    for id in ids {
        let state = sysfs[&format!("memory{id}/state")].trim().to_string();
        let zones: Vec<String> = sysfs
            .get(&format!("memory{id}/valid_zones"))
            .map(|z| {
                z.split_whitespace().map(|w| if w == "none" { "None".to_string() } else { w.to_string() }).collect()
            })
            .unwrap_or_default();
        let start = id * bs;
        let device = regions.iter().find(|(s, e, _)| *s <= start && start <= *e).map(|(_, _, n)| n.clone());
        if let Some(last) = rows.last_mut() {
            if last.blocks[1] + 1 == id && last.state == state && last.zones == zones && last.device == device {
                last.blocks[1] = id;
                last.end = start + bs - 1;
                continue;
            }
        }
        rows.push(BlockRow { start, end: start + bs - 1, state, blocks: [id, id], zones, device });
    }
    Ok(rows)
}

/// `iomem blocks --json` against the rows sysfs implies.
pub(crate) fn blocks(expected: &[BlockRow], run: &(i32, Vec<u8>, Vec<u8>)) -> Outcome {
    let (rc, out, err) = run;
    if *rc != 0 {
        let e = String::from_utf8_lossy(err);
        if e.contains("unrecognized subcommand") {
            return Outcome::Skipped("iomem blocks missing".to_string());
        }
        return Outcome::Diff(format!("iomem blocks --json failed (exit {rc}): {}", first_line(err)));
    }
    let doc: Value = match serde_json::from_slice(out) {
        Ok(v) => v,
        Err(e) => return Outcome::Diff(format!("iomem blocks --json: not JSON: {e}")),
    };
    let Some(rows) = doc["memory"].as_array() else {
        return Outcome::Diff("iomem blocks --json: no \"memory\" array".to_string());
    };
    let got: Vec<Result<BlockRow, String>> = rows
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().ok_or_else(|| format!("row without integer {k:?}: {r}"));
            let blocks = r["blocks"].as_array().ok_or_else(|| format!("row without \"blocks\": {r}"))?;
            let b = |i: usize| blocks.get(i).and_then(Value::as_u64).ok_or_else(|| format!("bad \"blocks\": {r}"));
            let size = n("size")?;
            let row = BlockRow {
                start: n("start")?,
                end: n("end")?,
                state: r["state"].as_str().unwrap_or("?").to_string(),
                blocks: [b(0)?, b(1)?],
                zones: r["zones"]
                    .as_array()
                    .map(|z| z.iter().map(|x| x.as_str().unwrap_or("?").to_string()).collect())
                    .unwrap_or_default(),
                device: r["device"].as_str().map(str::to_string),
            };
            if size != row.end - row.start + 1 {
                return Err(format!("row {row}: size {size} is not end - start + 1"));
            }
            Ok(row)
        })
        .collect();
    for i in 0..expected.len().max(got.len()) {
        match (expected.get(i), got.get(i)) {
            (_, Some(Err(e))) => return Outcome::Diff(e.clone()),
            (Some(e), Some(Ok(g))) if e == g => {}
            (e, g) => {
                let e = e.map_or("(no row)".to_string(), ToString::to_string);
                let g = g.and_then(|g| g.as_ref().ok()).map_or("(no row)".to_string(), ToString::to_string);
                return Outcome::Diff(format!("row {}: sysfs {e}, iomem {g}", i + 1));
            }
        }
    }
    Outcome::Match(format!("{} rows", expected.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysfs(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| (k.to_string(), format!("{v}\n"))).collect()
    }

    #[test]
    fn lsmem_rows() {
        let s = sysfs(&[
            ("block_size_bytes", "8000000"),
            ("memory0/state", "online"),
            ("memory0/valid_zones", "none"),
            ("memory1/state", "online"),
            ("memory1/valid_zones", "DMA32"),
            ("memory2/state", "online"),
            ("memory2/valid_zones", "DMA32"),
            ("memory32/state", "online"),
            ("memory32/valid_zones", "Movable"),
            ("memory33/state", "online"),
            ("memory33/valid_zones", "Movable"),
            ("memory34/state", "offline"),
            ("memory34/valid_zones", "Normal Movable"),
        ]);
        let iomem = super::super::addresses::parse_iomem("100000000-1ffffffff : virtio0\n");
        let rows = expected_blocks(&s, &iomem).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].zones, ["None"]);
        assert_eq!((rows[1].blocks, rows[1].end), ([1, 2], 0x17ff_ffff));
        assert_eq!(rows[2].device.as_deref(), Some("virtio0"));
        assert_eq!(rows[3].zones, ["Normal", "Movable"]);
        let json = serde_json::json!({"memory": rows.iter().map(|r| serde_json::json!({
            "start": r.start, "end": r.end, "size": r.end - r.start + 1, "state": r.state,
            "blocks": r.blocks, "zones": r.zones, "device": r.device,
        })).collect::<Vec<_>>()});
        let out = (0, serde_json::to_vec(&json).unwrap(), Vec::new());
        assert!(matches!(blocks(&rows, &out), Outcome::Match(_)));
        let missing = (2, Vec::new(), b"error: unrecognized subcommand 'blocks'".to_vec());
        assert_eq!(blocks(&rows, &missing), Outcome::Skipped("iomem blocks missing".into()));
        assert!(matches!(blocks(&rows[..3], &out), Outcome::Diff(d) if d.starts_with("row 4")));
    }

    #[test]
    fn devmem_comparison() {
        let probes = parse_probe(
            br#"{"address":"0x1000","label":"low1M-ram","fd":"O_RDWR","open":"ok","mmap":"ok","pread1":"ok","pread1_data":"zero","pread16":"ok","pread16_data":"zero","kpageflags":null}
{"address":"0x1000","label":"low1M-ram","fd":"O_RDONLY|O_SYNC","open":"ok","mmap":"EAGAIN","pread1":"ok","pread1_data":"data","pread16":"ok","pread16_data":"data","kpageflags":"0x1"}"#,
        )
        .unwrap();
        let v = |r: &str, m: &str, u: Option<&str>| {
            serde_json::json!({"address": "0x1000", "open": {"result": "ok"}, "mmap": {"result": m, "rule": "x"},
                               "read": {"result": r, "rule": "page.x86-ram-first-mib", "uncertain": u}})
        };
        let addrs = [(0x1000, "low1M-ram".to_string())];
        let (n, d, _) = devmem(&probes, "O_RDWR", &[v("zeros", "ok", None), v("zeros", "ok", None)], &addrs, None);
        assert_eq!((n, d.len()), (4, 0));
        let (_, d, _) =
            devmem(&probes, "O_RDONLY|O_SYNC", &[v("zeros", "ok", None), v("ok", "ok", None)], &addrs, None);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("mmap: kernel EAGAIN, iomem ok"), "{d:?}");
        assert!(d[1].contains("pread1: kernel ok (data), iomem zeros"), "{d:?}");
        let (_, d, excused) = devmem(
            &probes,
            "O_RDWR",
            &[v("EFAULT", "ok", Some("high_memory")), v("EFAULT", "ok", Some("high_memory"))],
            &addrs,
            Some("high_memory"),
        );
        assert_eq!((d.len(), excused), (0, 2));
    }

    #[test]
    fn text_differences() {
        assert_eq!(first_line_difference(b"a\nb\n", b"a\nb\n"), None);
        assert_eq!(first_line_difference(b"a\nb\n", b"a\nc\n").unwrap(), "line 2: \"b\" vs \"c\"");
    }
}
