//! `iomem map --svg` and `iomem simulate --svg`: the pictures are parsed as
//! XML and checked for what they promise: well-formed, no two texts
//! overlapping, every resource of the tree drawn (as a `class="resource"`
//! rectangle with its `data-start`, `data-end` and `data-name`), boxes
//! nested like the tree, and for a simulation the plugged memory of every
//! step adding up to what the device reports.
//!
//! Text boxes use the generator's documented metric (`src/svg/mod.rs`): a
//! text of `n` characters at font size `s` with baseline `y` is
//! `n × 0.62 × s` wide (from `x`, centred on `x` or ending at `x` as
//! `text-anchor` says) and spans `y − 0.92 s` to `y + 0.28 s`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{dumps, iomem, scratch, steps};

/// A text's box: left, top, right, bottom.
#[derive(Clone, Copy, Debug)]
struct TextBox(f64, f64, f64, f64);

/// A drawn resource: start, end, name, depth, and its rectangle's top and
/// bottom, left and right.
#[derive(Clone, Debug)]
struct Drawn {
    start: String,
    end: String,
    name: String,
    depth: usize,
    rect: (f64, f64, f64, f64),
}

fn attr_f(n: roxmltree::Node<'_, '_>, name: &str) -> f64 {
    n.attribute(name).unwrap_or_else(|| panic!("<{}> without {name}", n.tag_name().name())).parse().unwrap()
}

/// Parses an SVG document (panics if it is not well-formed XML with an
/// `<svg>` root) and returns its text boxes and resource rectangles.
fn parse(svg: &str) -> (Vec<TextBox>, Vec<Drawn>, roxmltree::Document<'_>) {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut texts = Vec::new();
    let mut drawn = Vec::new();
    for n in doc.descendants().filter(roxmltree::Node::is_element) {
        match n.tag_name().name() {
            "text" => {
                let (x, y, size) = (attr_f(n, "x"), attr_f(n, "y"), attr_f(n, "font-size"));
                let chars = n.text().unwrap_or("").chars().count() as f64;
                assert!(n.children().all(|c| c.is_text()), "a text holds only characters");
                let w = chars * 0.62 * size;
                let x0 = match n.attribute("text-anchor") {
                    Some("middle") => x - w / 2.0,
                    Some("end") => x - w,
                    _ => x,
                };
                texts.push(TextBox(x0, y - 0.92 * size, x0 + w, y + 0.28 * size));
            }
            "rect" if n.attribute("class") == Some("resource") => {
                let (x, y) = (attr_f(n, "x"), attr_f(n, "y"));
                let (w, h) = (attr_f(n, "width"), attr_f(n, "height"));
                drawn.push(Drawn {
                    start: n.attribute("data-start").unwrap().to_string(),
                    end: n.attribute("data-end").unwrap().to_string(),
                    name: n.attribute("data-name").unwrap().to_string(),
                    depth: n.attribute("data-depth").unwrap().parse().unwrap(),
                    rect: (y, y + h, x, x + w),
                });
            }
            _ => {}
        }
    }
    (texts, drawn, doc)
}

/// Asserts that no two text boxes share interior points.
#[track_caller]
fn no_overlaps(texts: &[TextBox], what: &str) {
    let mut t = texts.to_vec();
    t.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (i, a) in t.iter().enumerate() {
        for b in t[i + 1..].iter().take_while(|b| b.1 < a.3) {
            let overlap = a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3;
            assert!(!overlap, "{what}: texts overlap: {a:?} {b:?}");
        }
    }
}

/// Asserts that the drawn resources are exactly those of `show --json`,
/// in order, each visible and inside its parent's box.
#[track_caller]
fn all_drawn(drawn: &[Drawn], show: &serde_json::Value, what: &str) {
    let resources = show["resources"].as_array().unwrap();
    assert_eq!(drawn.len(), resources.len(), "{what}: every resource once");
    let mut parents: Vec<&Drawn> = Vec::new();
    for (d, r) in drawn.iter().zip(resources) {
        assert_eq!(d.start, r["start"].as_str().unwrap(), "{what}");
        assert_eq!(d.end, r["end"].as_str().unwrap(), "{what}");
        let name = r["name"].as_str().unwrap_or("<BAD>");
        if !name.chars().any(char::is_control) {
            assert_eq!(d.name, name, "{what}");
        }
        assert_eq!(d.depth as u64, r["depth"].as_u64().unwrap(), "{what}");
        let (top, bottom, left, right) = d.rect;
        assert!(bottom - top >= 1.0 && right - left >= 1.0, "{what}: {d:?} is visible");
        parents.truncate(d.depth);
        if let Some(p) = parents.last() {
            let inside = top >= p.rect.0 - 0.01 && bottom <= p.rect.1 + 0.01 && left >= p.rect.2 && right <= p.rect.3;
            assert!(inside, "{what}: {d:?} inside {p:?}");
        }
        parents.push(d);
    }
}

/// `map --svg -` and `show --json` of the same source, checked.
fn check_source(source: &[&str], what: &str) -> Option<String> {
    let mut map_args = vec!["map", "--svg", "-"];
    map_args.extend(source);
    let mut show_args = vec!["show", "--json"];
    show_args.extend(source);
    let show = iomem(&show_args);
    let map = iomem(&map_args);
    if !show.status.success() {
        // What `show` cannot read, `map` cannot either.
        assert!(!map.status.success(), "{what}: map succeeded where show failed: {}", show.stderr);
        return None;
    }
    let svg = map.ok().to_string();
    let (texts, drawn, _) = parse(&svg);
    no_overlaps(&texts, what);
    all_drawn(&drawn, &show.json(), what);
    Some(svg)
}

#[test]
fn the_example_picture_is_well_formed_complete_and_readable() {
    let svg = check_source(&["--example"], "example").unwrap();
    for expected in [
        "virtio-mem unplugged",
        "refused: exclusive",
        "data-name=\"System RAM (virtio_mem)\"",
        "data-kind=\"virtio-mem-plugged\"",
        "data-kind=\"virtio-mem-unplugged\"",
        "class=\"verdict\" data-call=\"read\"",
        "gap 996 GiB",
    ] {
        assert!(svg.contains(expected), "missing {expected:?}");
    }
    // Deterministic.
    assert_eq!(iomem(&["map", "--example", "--svg", "-"]).ok(), svg);
}

#[test]
fn every_public_dump_is_drawn_completely() {
    let mut drawn = 0;
    for d in dumps() {
        let path = d.to_str().unwrap();
        if check_source(&["--lenient", "--file", path], path).is_some() {
            drawn += 1;
        }
    }
    assert!(drawn >= 20, "{drawn} dumps drawn");
}

#[test]
fn every_recorded_step_is_drawn_completely() {
    let all = steps();
    assert!(all.len() > 40);
    for s in &all {
        let path = s.to_str().unwrap();
        let mut source = vec!["--root", path];
        if s.join("observed/iomem-flags.txt").is_file() {
            source.push("--flags-from-observed");
        }
        check_source(&source, path).unwrap();
    }
}

#[test]
fn what_ifs_change_the_verdicts() {
    let strict = iomem(&["map", "--example", "--json"]).json();
    let relaxed = iomem(&["map", "--example", "--json", "--assume", "iomem=relaxed"]).json();
    let verdict = |v: &serde_json::Value, name: &str| {
        let r = v["resources"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap().clone();
        (r["read"].as_str().unwrap().to_string(), r["mmap"].as_str().unwrap().to_string())
    };
    assert_eq!(verdict(&strict, "IOAPIC 0").1, "exclusive");
    assert_eq!(verdict(&relaxed, "IOAPIC 0").1, "ok");
    assert_eq!(verdict(&relaxed, "virtio0").1, "refused", "never mappable, relaxed or not");
}

#[test]
fn json_gives_the_laid_out_map() {
    let v = iomem(&["map", "--example", "--json"]).json();
    assert_eq!(v["schema_version"], 1);
    let show = iomem(&["show", "--example", "--json"]).json();
    let res = v["resources"].as_array().unwrap();
    assert_eq!(res.len(), show["resources"].as_array().unwrap().len());
    let kinds = ["ram", "kernel", "reserved", "pci", "device", "virtio-mem-plugged", "virtio-mem-unplugged"];
    let verdicts = ["ok", "zeros", "refused", "exclusive", "mixed"];
    for r in res {
        assert!(kinds.contains(&r["kind"].as_str().unwrap()), "{r}");
        assert!(verdicts.contains(&r["read"].as_str().unwrap()), "{r}");
        assert!(verdicts.contains(&r["mmap"].as_str().unwrap()), "{r}");
        assert!(r["height"].as_f64().unwrap() >= 1.0);
    }
    let ram = res.iter().find(|r| r["start"] == "0x1000").unwrap();
    assert_eq!((ram["kind"].as_str(), ram["read"].as_str()), (Some("ram"), Some("zeros")));
    // The axis pieces are contiguous, top to bottom.
    let segs = v["segments"].as_array().unwrap();
    for w in segs.windows(2) {
        let end = u128::from_str_radix(w[0]["end"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        let start = u128::from_str_radix(w[1]["start"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        assert_eq!(end + 1, start);
        let y = w[0]["y"].as_f64().unwrap() + w[0]["height"].as_f64().unwrap();
        assert!((y - w[1]["y"].as_f64().unwrap()).abs() < 0.02);
    }
    assert!(segs.iter().any(|s| s["broken"] == true));
    assert!(!v["runs"].as_array().unwrap().is_empty());
}

#[test]
fn without_svg_a_summary() {
    let run = iomem(&["map", "--example"]);
    let text = run.ok();
    for expected in [
        "28 resources (28 drawn) from 0x0 to 0xffffffffff",
        "virtio-mem plugged",
        "refused: exclusive",
        "Draw it: iomem map --svg FILE",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(text.lines().all(|l| l.chars().count() <= 80 || l.starts_with("/proc/iomem of")), "{text}");
}

#[test]
fn the_picture_goes_to_a_file() {
    let dir = scratch("map-file");
    let f = dir.join("map.svg");
    let run = iomem(&["map", "--example", "--svg", f.to_str().unwrap()]);
    assert!(run.ok().is_empty(), "nothing on standard output");
    assert!(run.stderr.contains("wrote"), "{}", run.stderr);
    let svg = std::fs::read_to_string(&f).unwrap();
    parse(&svg);
    // --json with a file: the JSON on standard output.
    let run = iomem(&["map", "--example", "--svg", f.to_str().unwrap(), "--json"]);
    assert_eq!(run.json()["schema_version"], 1);
}

#[test]
fn mistakes_are_errors() {
    let run = iomem(&["map", "--example", "--svg", "-", "--json"]);
    assert!(run.err().contains("both write to standard output"), "{}", run.stderr);
    let run = iomem(&["map", "--example", "--svg", "/nonexistent-dir/x.svg"]);
    assert!(run.err().contains("/nonexistent-dir/x.svg"), "{}", run.stderr);
    let dir = scratch("map-bad");
    let run = iomem(&["map", "--file", dir.join("missing.txt").to_str().unwrap(), "--svg", "-"]);
    assert!(run.err().contains("missing.txt"), "{}", run.stderr);
    let run = iomem(&["map", "--root", dir.to_str().unwrap()]);
    assert!(!run.status.success());
    let run = iomem(&["map", "--example", "--assume", "bogus=1"]);
    assert_eq!(run.status.code(), Some(2), "a usage error");
}

/// A dump of `top` top-level resources, each with `children` children.
fn synthetic_dump(dir: &Path, top: u64, children: u64) -> String {
    let mut text = String::new();
    for i in 0..top {
        let base = i << 24;
        text.push_str(&format!("{:08x}-{:08x} : dev{i} <&\"'>\n", base, base + 0xff_ffff));
        for c in 0..children {
            let s = base + (c << 12);
            text.push_str(&format!("  {:08x}-{:08x} : child{c}\n", s, s + 0xfff));
        }
    }
    let f = dir.join(format!("dump-{top}-{children}.txt"));
    std::fs::write(&f, text).unwrap();
    f.to_str().unwrap().to_string()
}

#[test]
fn huge_trees_are_drawn_in_part_and_say_so() {
    let dir = scratch("map-huge");
    // 3000 at the top level: drawn as groups.
    let f = synthetic_dump(&dir, 3000, 0);
    let svg = iomem(&["map", "--file", &f, "--svg", "-"]).ok().to_string();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let counts: u64 = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("resource"))
        .map(|n| n.attribute("data-count").unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counts, 3000, "every resource is in a group");
    assert!(svg.contains("3000 resources, 3000 of them at the top level"));
    assert!(svg.contains("&lt;&amp;&quot;&#39;&gt;"), "names are escaped");
    let (texts, _, _) = parse(&svg);
    no_overlaps(&texts, "groups");
    // 1000 with two children each: the top level only.
    let f = synthetic_dump(&dir, 1000, 2);
    let svg = iomem(&["map", "--file", &f, "--svg", "-"]).ok().to_string();
    assert!(svg.contains("drawn to depth 0 (1000 resources)"));
    let (texts, drawn, _) = parse(&svg);
    assert_eq!(drawn.len(), 1000);
    no_overlaps(&texts, "depth-capped");
}

#[test]
fn a_terabyte_simulation_timeline() {
    let dir = scratch("map-tib");
    let scenario = dir.join("tib.toml");
    std::fs::write(
        &scenario,
        "[[device]]\nid = \"vm0\"\nsize = \"1T\"\nblock_size = \"2M\"\n\
         [[step]]\nname = \"load\"\naction = \"load-driver\"\n\
         [[step]]\nname = \"grow-1T\"\naction = \"resize\"\ndevice = \"vm0\"\nsize = \"1T\"\n\
         [[step]]\nname = \"shrink-256G\"\naction = \"resize\"\ndevice = \"vm0\"\nsize = \"256G\"\n\
         [[step]]\nname = \"offline-a-block\"\naction = \"offline\"\nblock = 100\n\
         [[step]]\nname = \"grow-700G\"\naction = \"resize\"\ndevice = \"vm0\"\nsize = \"700G\"\n",
    )
    .unwrap();
    let f = dir.join("tib.svg");
    let run = iomem(&["simulate", scenario.to_str().unwrap(), "--json", "--svg", f.to_str().unwrap()]);
    let json = run.json();
    let svg = std::fs::read_to_string(&f).unwrap();
    let (texts, drawn, doc) = parse(&svg);
    no_overlaps(&texts, "timeline");
    let steps = json["steps"].as_array().unwrap();
    // Plugged bytes per step, as drawn.
    let mut plugged: BTreeMap<String, u128> = BTreeMap::new();
    for n in doc.descendants().filter(|n| n.attribute("class") == Some("plugged")) {
        assert_eq!(n.attribute("data-exact"), Some("true"));
        *plugged.entry(n.attribute("data-step").unwrap().to_string()).or_default() +=
            n.attribute("data-bytes").unwrap().parse::<u128>().unwrap();
    }
    for s in steps {
        let want = u128::from(s["devices"][0]["plugged_size"].as_u64().unwrap());
        let name = s["name"].as_str().unwrap();
        assert_eq!(plugged.get(name).copied().unwrap_or(0), want, "step {name}");
        assert!(svg.contains(&format!(">{name}</text>")), "step {name} is named");
    }
    assert_eq!(plugged.get("grow-1T"), Some(&(1u128 << 40)));
    assert!(svg.contains("class=\"block\" data-state=\"offline\""), "the offlined block");
    // The map of the last step draws its whole tree.
    let last = steps.last().unwrap()["iomem_flags"].as_str().unwrap();
    let dump = dir.join("last.txt");
    std::fs::write(&dump, last).unwrap();
    let show = iomem(&["show", "--json", "--file", dump.to_str().unwrap()]).json();
    all_drawn(&drawn, &show, "the last step");
}

#[test]
fn the_built_in_story_as_a_picture_on_standard_output() {
    let run = iomem(&["simulate", "--svg", "-"]);
    let svg = run.ok();
    assert!(svg.starts_with("<?xml"), "only the picture on standard output");
    let (texts, drawn, _) = parse(svg);
    no_overlaps(&texts, "built-in story");
    assert!(drawn.iter().any(|d| d.name == "virtio0"));
    assert!(svg.contains(">shrink-3G</text>") && svg.contains("plug 5248 MiB"));
    let run = iomem(&["simulate", "--svg", "-", "--json"]);
    assert!(run.err().contains("both write to standard output"), "{}", run.stderr);
}
