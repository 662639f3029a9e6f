//! `iomem show` on the machine running the tests: either the real tree
//! (with CAP_SYS_ADMIN) or the clear refusal (without).

use crate::common::iomem;

#[test]
fn live_tree_or_a_clear_refusal() {
    let Ok(kernel_text) = std::fs::read("/proc/iomem") else {
        return; // not Linux, or no procfs: nothing to compare with
    };
    let zeroed = String::from_utf8_lossy(&kernel_text).lines().all(|l| l.contains("00000000-00000000"));
    let run = iomem(&["show", "--format", "proc"]);
    if zeroed {
        let err = run.err();
        assert!(err.contains("/proc/iomem") && err.contains("CAP_SYS_ADMIN"), "{err}");
        assert!(err.contains("sudo iomem show"), "{err}");
    } else {
        // The tree can change between the two reads only on hot(un)plug.
        assert_eq!(run.raw_stdout, kernel_text, "{}", run.stderr);
        let text = iomem(&["show"]).ok().to_string();
        assert!(text.starts_with("# /proc/iomem of the running machine"), "{text}");
    }
}
