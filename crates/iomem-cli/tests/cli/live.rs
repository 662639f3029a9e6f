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

/// Run as root, the test can drop to an unprivileged user (`setpriv`) and
/// read the live file the way such a user does: the kernel prints zeros and
/// the command must refuse with the reason. Skipped where that is not
/// possible (not root, no `setpriv`).
#[test]
fn unprivileged_live_read_is_refused_with_the_reason() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    let setpriv = std::process::Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    if !root || !setpriv || std::fs::read("/proc/iomem").is_err() {
        return;
    }
    // A copy the unprivileged user can execute whatever the target
    // directory's permissions.
    let bin = std::env::temp_dir().join(format!("iomem-unprivileged-{}", std::process::id()));
    std::fs::copy(env!("CARGO_BIN_EXE_iomem"), &bin).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg("show")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&bin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unprivileged read must fail: {}", String::from_utf8_lossy(&out.stdout));
    assert!(err.contains("/proc/iomem: every address is zero"), "{err}");
    assert!(err.contains("CAP_SYS_ADMIN") && err.contains("sudo iomem show"), "{err}");
}
