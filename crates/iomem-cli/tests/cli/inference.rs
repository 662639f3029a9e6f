//! Flags inferred from plain dumps: the certainty the library reports is
//! shown (`FLAG?` in text, `assumed` in JSON) and the hints read from the
//! system make version-dependent bits certain.

use serde_json::Value;

use crate::common::{dump, fixtures, iomem};

fn resource<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["resources"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

#[test]
fn without_a_kernel_version_dependent_bits_are_assumed() {
    // Two virtio-mem devices: EXCLUSIVE on the device region exists from
    // v5.16 on, so with no kernel known it is the likeliest value, assumed.
    let path = dump("035");
    let path = path.to_str().unwrap();
    let doc = iomem(&["show", "--json", "--file", path]).json();
    assert_eq!(doc["flags_from"], "inference");
    let virtio = resource(&doc, "virtio0");
    assert_eq!(virtio["rule"], "virtio-mem-device");
    assert!(strings(&virtio["flags"]).contains(&"EXCLUSIVE"));
    assert!(strings(&virtio["assumed"]).contains(&"EXCLUSIVE"), "{virtio}");
    let text = iomem(&["show", "--file", path]).ok().to_string();
    assert!(text.contains("[MEM|SYSRAM|EXCLUSIVE?]"), "{text}");

    // With the kernel named, the bit is certain.
    let doc = iomem(&["show", "--json", "--kernel", "6.1.0-56-amd64", "--file", path]).json();
    let virtio = resource(&doc, "virtio0");
    assert!(strings(&virtio["flags"]).contains(&"EXCLUSIVE"));
    assert!(!strings(&virtio["assumed"]).contains(&"EXCLUSIVE"), "{virtio}");
    let text = iomem(&["show", "--kernel", "6.1.0-56-amd64", "--file", path]).ok().to_string();
    assert!(text.contains("[MEM|SYSRAM|EXCLUSIVE]"), "{text}");

    // Before v5.16 the region has no EXCLUSIVE and is not exclusive.
    let doc = iomem(&["show", "--json", "--kernel", "5.15.0", "--file", path]).json();
    let virtio = resource(&doc, "virtio0");
    assert!(!strings(&virtio["flags"]).contains(&"EXCLUSIVE"), "{virtio}");
    assert_eq!(virtio["exclusive"]["relaxed"]["exclusive"], false);
}

#[test]
fn a_captured_systems_inferred_flags_equal_its_real_flags() {
    // The recording's own observed flags are the truth for its proc/iomem.
    let step = fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M");
    let step = step.to_str().unwrap();
    let inferred = iomem(&["show", "--json", "--root", step]).json();
    let real = iomem(&["show", "--json", "--root", step, "--flags-from-observed"]).json();
    let (inf, obs) = (inferred["resources"].as_array().unwrap(), real["resources"].as_array().unwrap());
    assert_eq!(inf.len(), obs.len());
    for (i, o) in inf.iter().zip(obs) {
        assert_eq!((&i["start"], &i["name"]), (&o["start"], &o["name"]));
        // Where the inference says a flag is certain, it is right.
        let assumed = strings(&i["assumed"]);
        for name in strings(&o["flags"]).into_iter().chain(strings(&i["flags"])) {
            if !assumed.contains(&name) && !name.starts_with("BITS") {
                assert_eq!(
                    strings(&i["flags"]).contains(&name),
                    strings(&o["flags"]).contains(&name),
                    "{}: {name} is claimed certain",
                    i["name"]
                );
            }
        }
        if !assumed.contains(&"desc") {
            assert_eq!(i["desc"], o["desc"], "{}", i["name"]);
        }
    }
    // And the /dev/mem answer of this system is the same either way.
    let marks =
        |d: &Value| d["resources"].as_array().unwrap().iter().map(|r| r["exclusive"].clone()).collect::<Vec<_>>();
    assert_eq!(marks(&inferred), marks(&real));
}

#[test]
fn ioports_flags_are_inferred_too() {
    let path = dump("045");
    let doc = iomem(&["show", "--json", "--file", path.to_str().unwrap()]).json();
    let dma = resource(&doc, "dma1");
    assert_eq!(strings(&dma["flags"]), ["IO", "BUSY"]);
    assert!(dma["exclusive"].is_null());
}
