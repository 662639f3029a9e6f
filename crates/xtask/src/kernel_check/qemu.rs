//! One QEMU guest: the process, its QMP socket (to resize the virtio-mem
//! devices and ask what QEMU sees) and the guest's command channel on its
//! second serial port (the protocol is described in `guest-init.sh`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// How QEMU runs the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// Pure emulation.
    Tcg,
}

impl Accel {
    /// QEMU's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// A virtio-mem device of the machine.
#[derive(Clone, Debug)]
pub(crate) struct Device {
    /// `vm0`, `vm1`.
    pub(crate) id: String,
    /// The device's block size in bytes.
    pub(crate) block_size: u64,
    /// The region size in bytes (the memory backend's size).
    pub(crate) region_size: u64,
}

/// What to boot.
pub(crate) struct Machine<'a> {
    /// The kernel image.
    pub(crate) kernel: &'a Path,
    /// The initramfs.
    pub(crate) initrd: &'a Path,
    /// The kernel command line.
    pub(crate) append: &'a str,
    /// The devices.
    pub(crate) devices: &'a [Device],
    /// The accelerator.
    pub(crate) accel: Accel,
    /// Where QEMU's console log and trace go.
    pub(crate) raw_dir: &'a Path,
    /// A short directory for the sockets (a unix socket path is limited to
    /// 108 bytes).
    pub(crate) socket_dir: &'a Path,
}

/// Human size for QEMU's command line (`2M`, `4G`).
pub(crate) fn qemu_size(n: u64) -> String {
    for (unit, m) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if n != 0 && n % m == 0 {
            return format!("{}{unit}", n / m);
        }
    }
    n.to_string()
}

impl Machine<'_> {
    /// QEMU's arguments.
    pub(crate) fn args(&self) -> Vec<String> {
        let s = |x: &str| x.to_string();
        let p = |x: &Path| x.display().to_string();
        let mut a = vec![
            s("-machine"),
            s("pc"),
            s("-accel"),
            s(self.accel.name()),
            s("-smp"),
            s("2"),
            s("-m"),
            s("2G,slots=2,maxmem=10G"),
            s("-display"),
            s("none"),
            s("-monitor"),
            s("none"),
            s("-nic"),
            s("none"),
            s("-no-reboot"),
            s("-kernel"),
            p(self.kernel),
            s("-initrd"),
            p(self.initrd),
            s("-append"),
            s(self.append),
            s("-serial"),
            format!("file:{}", p(&self.raw_dir.join("console.log"))),
            s("-chardev"),
            format!("socket,id=ctl,path={},server=on,wait=off", p(&self.socket_dir.join("ctl.sock"))),
            s("-serial"),
            s("chardev:ctl"),
            s("-qmp"),
            format!("unix:{},server=on,wait=off", p(&self.socket_dir.join("qmp.sock"))),
            s("-trace"),
            s("enable=virtio_mem_*"),
            s("-D"),
            p(&self.trace_path()),
        ];
        for (n, d) in self.devices.iter().enumerate() {
            a.push(s("-object"));
            a.push(format!("memory-backend-ram,id=vmem{n},size={}", qemu_size(d.region_size)));
            a.push(s("-device"));
            a.push(format!(
                "virtio-mem-pci,id={},memdev=vmem{n},block-size={},requested-size=0",
                d.id,
                qemu_size(d.block_size)
            ));
        }
        a
    }

    /// QEMU's trace file.
    pub(crate) fn trace_path(&self) -> PathBuf {
        self.raw_dir.join("qemu-trace.log")
    }

    /// The command line as the recordings show it: paths replaced by
    /// `<kernel>`, `<initrd>`, `<tmp>`, shell-quoted where needed.
    pub(crate) fn shown(&self) -> String {
        let mut words = vec!["qemu-system-x86_64".to_string()];
        words.extend(self.args());
        let kernel = self.kernel.display().to_string();
        let initrd = self.initrd.display().to_string();
        let raw = self.raw_dir.display().to_string();
        let sockets = self.socket_dir.display().to_string();
        words
            .iter()
            .map(|w| {
                let w = w.replace(&kernel, "<kernel>").replace(&initrd, "<initrd>");
                let w = w.replace(&raw, "<tmp>").replace(&sockets, "<tmp>");
                if w.contains([' ', '*', '\'']) { format!("'{w}'") } else { w }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A running guest.
pub(crate) struct Guest {
    child: Child,
    qmp: Qmp,
    ctl: Channel,
    /// QEMU's trace file.
    pub(crate) trace: PathBuf,
    /// When QEMU was started.
    pub(crate) started: Instant,
}

impl Drop for Guest {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn connect(path: &Path, child: &mut Child, deadline: Instant) -> anyhow::Result<UnixStream> {
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if let Some(status) = child.try_wait()? {
                    bail!("QEMU exited ({status}) before {} appeared", path.display());
                }
                if Instant::now() > deadline {
                    bail!("cannot connect to {}: {e}", path.display());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Why a boot failed.
#[derive(Debug)]
pub(crate) enum BootError {
    /// The guest did not reach its command prompt in time.
    Timeout(Duration),
    /// The guest kernel panicked before its command prompt (seen under TCG
    /// on a loaded host: an oops in early boot code, before any step).
    Panicked(String),
    /// Anything else.
    Other(anyhow::Error),
}

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BootError::Timeout(d) => write!(f, "the guest did not reach its command prompt within {}s", d.as_secs()),
            BootError::Panicked(line) => write!(f, "the guest kernel panicked while booting: {line}"),
            BootError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl Guest {
    /// Starts QEMU and waits (at most `boot_limit`) for the guest's
    /// `@ready`.
    pub(crate) fn boot(m: &Machine<'_>, boot_limit: Duration) -> Result<(Guest, String), BootError> {
        let other = BootError::Other;
        std::fs::create_dir_all(m.raw_dir).map_err(|e| other(e.into()))?;
        std::fs::create_dir_all(m.socket_dir).map_err(|e| other(e.into()))?;
        for s in ["ctl.sock", "qmp.sock"] {
            let _ = std::fs::remove_file(m.socket_dir.join(s));
        }
        let _ = std::fs::remove_file(m.trace_path());
        let stderr = std::fs::File::create(m.raw_dir.join("qemu-stderr.log")).map_err(|e| other(e.into()))?;
        let started = Instant::now();
        let mut child = Command::new("qemu-system-x86_64")
            .args(m.args())
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().map_err(|e| other(e.into()))?)
            .stderr(stderr)
            .spawn()
            .map_err(|e| other(anyhow::Error::from(e).context("cannot start qemu-system-x86_64")))?;
        let deadline = started + Duration::from_secs(30);
        let qmp_stream = match connect(&m.socket_dir.join("qmp.sock"), &mut child, deadline) {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(e));
            }
        };
        let ctl_stream = match connect(&m.socket_dir.join("ctl.sock"), &mut child, deadline) {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(e));
            }
        };
        let mut guest = Guest {
            child,
            qmp: Qmp::new(qmp_stream).map_err(other)?,
            ctl: Channel::new(ctl_stream).map_err(other)?,
            trace: m.trace_path(),
            started,
        };
        match guest.ctl.wait_ready(boot_limit, &mut guest.child) {
            Ok(release) => Ok((guest, release)),
            Err(e) if e.to_string().contains("@ready") => Err(BootError::Timeout(boot_limit)),
            Err(e) => Err(other(e)),
        }
    }

    /// Runs a shell command in the guest: (exit status, stdout, stderr).
    pub(crate) fn run(&mut self, cmd: &str, limit: Duration) -> anyhow::Result<(i32, Vec<u8>, Vec<u8>)> {
        self.ctl.request(&format!("run {{id}} {cmd}"), &[], limit)
    }

    /// Runs a command that must succeed; its standard output as text.
    pub(crate) fn sh(&mut self, cmd: &str) -> anyhow::Result<String> {
        let (rc, out, err) = self.run(cmd, Duration::from_secs(300))?;
        if rc != 0 {
            bail!("guest command {cmd:?} failed (exit {rc}): {}", String::from_utf8_lossy(&err));
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Writes a file in the guest.
    pub(crate) fn put(&mut self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        let (rc, _, err) =
            self.ctl.request(&format!("put {{id}} {path} {}", data.len()), data, Duration::from_secs(60))?;
        if rc != 0 {
            bail!("writing {path} in the guest failed: {}", String::from_utf8_lossy(&err));
        }
        Ok(())
    }

    /// A QMP command's `return` value.
    pub(crate) fn qmp(&mut self, execute: &str, arguments: Value) -> anyhow::Result<Value> {
        self.qmp.cmd(execute, arguments)
    }

    /// `qom-get /machine/peripheral/ID PROPERTY`.
    pub(crate) fn qom_get(&mut self, id: &str, property: &str) -> anyhow::Result<Value> {
        self.qmp("qom-get", json!({ "path": format!("/machine/peripheral/{id}"), "property": property }))
    }

    /// `qom-set /machine/peripheral/ID requested-size SIZE`.
    pub(crate) fn set_requested_size(&mut self, id: &str, size: u64) -> anyhow::Result<()> {
        self.qmp(
            "qom-set",
            json!({ "path": format!("/machine/peripheral/{id}"), "property": "requested-size", "value": size }),
        )?;
        Ok(())
    }

    /// The size of QEMU's trace file now (it is flushed after every event).
    pub(crate) fn trace_offset(&self) -> u64 {
        std::fs::metadata(&self.trace).map(|m| m.len()).unwrap_or(0)
    }

    /// Powers the guest off and waits for QEMU to exit.
    pub(crate) fn power_off(mut self) -> anyhow::Result<()> {
        self.ctl.send_off()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("QEMU did not exit within 30s of the guest's poweroff")
    }
}

/// A QMP connection.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn new(stream: UnixStream) -> anyhow::Result<Qmp> {
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let writer = stream.try_clone()?;
        let mut q = Qmp { reader: BufReader::new(stream), writer };
        loop {
            let v = q.read()?;
            if v.get("QMP").is_some() {
                break;
            }
        }
        q.cmd("qmp_capabilities", Value::Null)?;
        Ok(q)
    }

    fn read(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).context("reading QMP")? == 0 {
            bail!("QMP connection closed");
        }
        serde_json::from_str(&line).with_context(|| format!("QMP sent {line:?}"))
    }

    fn cmd(&mut self, execute: &str, arguments: Value) -> anyhow::Result<Value> {
        let mut msg = json!({ "execute": execute });
        if !arguments.is_null() {
            msg["arguments"] = arguments;
        }
        writeln!(self.writer, "{msg}")?;
        loop {
            let v = self.read()?;
            if v.get("event").is_some() {
                continue;
            }
            if let Some(e) = v.get("error") {
                bail!("QMP {execute}: {e}");
            }
            return Ok(v.get("return").cloned().unwrap_or(Value::Null));
        }
    }
}

/// The guest's command channel.
struct Channel {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Channel {
    fn new(stream: UnixStream) -> anyhow::Result<Channel> {
        let writer = stream.try_clone()?;
        Ok(Channel { reader: BufReader::new(stream), writer, next_id: 1 })
    }

    /// Reads one line within `limit` (None on timeout).
    fn line(&mut self, limit: Duration) -> anyhow::Result<Option<String>> {
        self.reader.get_ref().set_read_timeout(Some(limit.max(Duration::from_millis(1))))?;
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => bail!("the guest's command channel closed"),
            Ok(_) => Ok(Some(String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_string())),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                // A partial line stays in `buf`: put it back is impossible
                // with BufReader, so only time out between lines (the
                // guest writes whole lines at once).
                if buf.is_empty() { Ok(None) } else { bail!("the guest stopped in the middle of a line") }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn wait_ready(&mut self, limit: Duration, child: &mut Child) -> anyhow::Result<String> {
        let deadline = Instant::now() + limit;
        let mut poked = Instant::now();
        loop {
            let now = Instant::now();
            if now >= deadline {
                bail!("no @ready from the guest");
            }
            if let Some(status) = child.try_wait()? {
                bail!("QEMU exited ({status}) before the guest was ready");
            }
            let wait = (deadline - now).min(Duration::from_secs(2));
            if let Some(l) = self.line(wait)? {
                if let Some(release) = l.strip_prefix("@ready ") {
                    return Ok(release.trim().to_string());
                }
            } else if poked.elapsed() > Duration::from_secs(10) {
                // If we connected after the guest's first @ready, an empty
                // line makes it say @ready again.
                self.writer.write_all(b"\n")?;
                poked = Instant::now();
            }
        }
    }

    fn read_exact(&mut self, n: usize, limit: Duration) -> anyhow::Result<Vec<u8>> {
        self.reader.get_ref().set_read_timeout(Some(limit))?;
        let mut buf = vec![0u8; n];
        self.reader.read_exact(&mut buf).context("reading the guest's answer")?;
        Ok(buf)
    }

    /// Sends a request (`{id}` in `header` is replaced by a new id), then
    /// `payload`, and reads the answer.
    fn request(&mut self, header: &str, payload: &[u8], limit: Duration) -> anyhow::Result<(i32, Vec<u8>, Vec<u8>)> {
        let id = self.next_id;
        self.next_id += 1;
        let header = header.replacen("{id}", &id.to_string(), 1);
        if header.contains('\n') {
            bail!("a guest command must be one line");
        }
        self.writer.write_all(format!("{header}\n").as_bytes())?;
        self.writer.write_all(payload)?;
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("the guest did not answer {header:?} within {}s", limit.as_secs());
            }
            let Some(l) = self.line(left)? else { continue };
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() == 5 && f[0] == "@done" && f[1] == id.to_string() {
                let rc: i32 = f[2].parse()?;
                let (o, e): (usize, usize) = (f[3].parse()?, f[4].parse()?);
                let out = self.read_exact(o, limit)?;
                let err = self.read_exact(e, limit)?;
                return Ok((rc, out, err));
            }
        }
    }

    fn send_off(&mut self) -> anyhow::Result<()> {
        let id = self.next_id;
        self.writer.write_all(format!("off {id}\n").as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(qemu_size(2 << 20), "2M");
        assert_eq!(qemu_size(4 << 30), "4G");
        assert_eq!(qemu_size(128 << 20), "128M");
        assert_eq!(qemu_size(1000), "1000");
    }

    #[test]
    fn command_line_as_recorded() {
        let devices = [Device { id: "vm0".into(), block_size: 2 << 20, region_size: 4 << 30 }];
        let m = Machine {
            kernel: Path::new("/w/k/vmlinuz"),
            initrd: Path::new("/w/initrd"),
            append: "console=ttyS0 panic=-1 nokaslr iomem=strict",
            devices: &devices,
            accel: Accel::Tcg,
            raw_dir: Path::new("/w/raw"),
            socket_dir: Path::new("/tmp/s"),
        };
        assert_eq!(
            m.shown(),
            "qemu-system-x86_64 -machine pc -accel tcg -smp 2 -m 2G,slots=2,maxmem=10G -display none -monitor none \
             -nic none -no-reboot -kernel <kernel> -initrd <initrd> -append 'console=ttyS0 panic=-1 nokaslr \
             iomem=strict' -serial file:<tmp>/console.log -chardev socket,id=ctl,path=<tmp>/ctl.sock,server=on,\
             wait=off -serial chardev:ctl -qmp unix:<tmp>/qmp.sock,server=on,wait=off -trace 'enable=virtio_mem_*' \
             -D <tmp>/qemu-trace.log -object memory-backend-ram,id=vmem0,size=4G -device virtio-mem-pci,id=vm0,\
             memdev=vmem0,block-size=2M,requested-size=0"
        );
    }
}
