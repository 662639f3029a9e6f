#!/usr/bin/env bash
# Builds the seed corpus fuzz/corpus/<target>/ from the real dumps in
# ../fixtures plus a few hand-made inputs. Idempotent: the corpus is
# rebuilt from scratch each time. Files are named by content hash (so
# duplicates collapse) and inputs over 64 KiB are skipped. The input
# formats are described in README.md and in src/lib.rs.
#
#   ./seeds.sh            # all targets
#   ./seeds.sh TARGET...  # only these
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fixtures=$(cd "$here/../fixtures" && pwd)
corpus="$here/corpus"
max_bytes=65536
all_targets=(procfs_parse infer_flags system_readers virtio_mem_device driver_answers scenario_files)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

skipped=0
# emit TARGET: reads one input from stdin and stores it under its hash.
emit() {
    local t=$1 f="$tmp/input"
    cat >"$f"
    local size
    size=$(wc -c <"$f")
    if [ "$size" -gt "$max_bytes" ]; then
        skipped=$((skipped + 1))
        return 0
    fi
    local h
    h=$(sha1sum "$f" | cut -c1-16)
    mv "$f" "$corpus/$t/$h"
}

# The real dumps, sorted for a stable choice of mode bytes.
mapfile -t plain_dumps < <(
    { find "$fixtures/iomem" -type f -name '*.txt'; find "$fixtures/kernel" -path '*/proc/iomem' -type f; } | sort
)
mapfile -t annotated_dumps < <(find "$fixtures/kernel" -path '*/observed/iomem-flags.txt' -type f | sort)
mapfile -t steps < <(find "$fixtures/kernel" -path '*/proc/iomem' -type f | sort | sed 's|/proc/iomem$||')

# Hand-made dumps for corners the real ones do not have: an x86 ioport map,
# nesting beyond the printed depth cap, CRLF line ends, blank lines,
# upper-case hex, a missing final newline, the top of the address space.
handmade_dumps() {
    printf '0000-0cf7 : PCI Bus 0000:00\n  0000-001f : dma1\n  0020-0021 : pic1\n  0060-0060 : keyboard\n  0070-0077 : rtc0\n0cf8-0cff : PCI conf1\n0d00-ffff : PCI Bus 0000:00\n  c000-c03f : 0000:00:03.0\n    c000-c03f : virtio-pci-legacy\n'
    printf '\0'
    printf '00000000-ffffffff : a\n  00000000-7fffffff : b\n    00000000-3fffffff : c\n      00000000-1fffffff : d\n        00000000-0fffffff : e\n          00000000-07ffffff : f\n          00000000-03ffffff : g\n          04000000-05ffffff : h\n          08000000-0fffffff : i\n        10000000-1fffffff : j\n'
    printf '\0'
    printf '00000000-00000fff : Reserved\r\n00001000-0009fbff : System RAM\r\n\r\n000A0000-000BFFFF : PCI Bus 0000:00\n0100000000-013fffffff : virtio0\n  100000000-13fffffff : System RAM (virtio_mem)\n  140000000-141ffffff :'
    printf '\0'
    printf '100000000-1ffffffff : virtio0\n  100000000-13fffffff : System RAM (virtio_mem)\n  180000000-187ffffff : System RAM (virtio_mem)\nfffffffffffff000-ffffffffffffffff : System RAM (virtio_mem)\n'
    printf '\0'
    printf '100000000-1ffffffff : virtio0 [flags=0x09000200 MEM|SYSRAM|EXCLUSIVE desc=NONE]\n  100000000-13fffffff : System RAM (virtio_mem) [flags=0x87000200 MEM|SYSRAM|SYSRAM_DRIVER_MANAGED|SYSRAM_MERGEABLE|BUSY desc=NONE]\n'
}

# ---- procfs_parse: mode byte + dump ----------------------------------------
gen_procfs_parse() {
    local i=0 f mode
    # Mode bytes (see ProcfsMode::from_byte): strict auto; then lenient with
    # a varying profile / platform / arch hint.
    local -a modes=(0x81 0x91 0xa1 0xb1 0xc1 0x13 0x85)
    for f in "${plain_dumps[@]}"; do
        { printf '\x00'; cat "$f"; } | emit procfs_parse
        mode=${modes[$((i % ${#modes[@]}))]}
        { printf "\\x${mode#0x}"; cat "$f"; } | emit procfs_parse
        i=$((i + 1))
    done
    for f in "${annotated_dumps[@]}"; do
        # annotated strict, annotated lenient with the arch hint
        { printf '\x08'; cat "$f"; } | emit procfs_parse
        { printf '\x89'; cat "$f"; } | emit procfs_parse
    done
    local n=0
    while IFS= read -r -d '' d; do
        for mode in 00 01 09 45; do
            { printf "\\x$mode"; printf '%s' "$d"; } | emit procfs_parse
        done
        n=$((n + 1))
    done < <(handmade_dumps; printf '\0')
}

# ---- infer_flags: hint byte + dump ----------------------------------------
gen_infer_flags() {
    local i=0 f mode
    # bits 0-1 arch (x86, arm64, other, none), bits 2-4 kernel (4.4, 5.9,
    # 5.15, 6.1, 6.12, none), bits 5-6 kind.
    local -a modes=(0x0c 0x10 0x00 0x04 0x08 0x17 0x13 0x0e 0x01 0x1f)
    for f in "${plain_dumps[@]}"; do
        mode=${modes[$((i % ${#modes[@]}))]}
        { printf "\\x${mode#0x}"; cat "$f"; } | emit infer_flags
        i=$((i + 1))
    done
    while IFS= read -r -d '' d; do
        { printf '\x0c'; printf '%s' "$d"; } | emit infer_flags
        { printf '\x03'; printf '%s' "$d"; } | emit infer_flags
    done < <(handmade_dumps; printf '\0')
}

# ---- system_readers: 2 header bytes, 8 address bytes, NUL-separated fields
# (cmdline, osrelease, config, lockdown, status, cpuinfo, pat_memtype_list)
status_root=$'Name:\tiomem\nUmask:\t0022\nState:\tR (running)\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0 \nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n'
status_user=$'Name:\tiomem\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t24 25 27 1000 \nCapEff:\t0000000000000000\n'
cpuinfo_x86=$'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU Virtual CPU version 2.5+\naddress sizes\t: 40 bits physical, 48 bits virtual\npower management:\n\n'
cpuinfo_arm=$'processor\t: 0\nBogoMIPS\t: 125.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\nCPU implementer\t: 0x41\n\n'
pat_list=$'PAT memtype list:\nPAT: [mem 0x00000000fd000000-0x00000000fe000000] write-combining\nPAT: [mem 0x00000000fe000000-0x00000000fe004000] uncached-minus\nPAT: [mem 0x00000000fed00000-0x00000000fed01000] uncached-minus\n'

# config_field FILE: the config, or only the lines the readers look at if
# the file is large.
config_field() {
    if [ "$(wc -c <"$1")" -le 16384 ]; then
        cat "$1"
    else
        grep -E '^(# )?CONFIG_(X86_64|ARM64|ARM64_PA_BITS|DEVMEM|STRICT_DEVMEM|IO_STRICT_DEVMEM|X86_PAT)( |=)' "$1" || true
    fi
}

gen_system_readers() {
    local i=0 s cfg header addr arm
    # header: absent-field bits, arch/devmem byte; address (little endian)
    local -a headers=('\x00\x00' '\x00\x01' '\x00\x4a' '\x40\x03' '\x00\x80' '\x12\x00')
    local -a addrs=('\x00\x00\x00\x00\x01\x00\x00\x00' '\x00\x00\xd0\xfe\x00\x00\x00\x00' '\x00\xf0\x09\x00\x00\x00\x00\x00')
    for s in "${steps[@]}"; do
        cfg=$(find "$s/boot" -name 'config-*' -type f 2>/dev/null | head -1)
        arm=0
        case "$s" in *arm64*) arm=1 ;; esac
        header=${headers[$((i % ${#headers[@]}))]}
        addr=${addrs[$((i % ${#addrs[@]}))]}
        {
            printf "$header"
            printf "$addr"
            cat "$s/proc/cmdline" 2>/dev/null || true
            printf '\0'
            cat "$s/proc/sys/kernel/osrelease" 2>/dev/null || true
            printf '\0'
            [ -n "$cfg" ] && config_field "$cfg"
            printf '\0'
            cat "$s/sys/kernel/security/lockdown" 2>/dev/null || true
            printf '\0'
            if [ $((i % 2)) -eq 0 ]; then printf '%s' "$status_root"; else printf '%s' "$status_user"; fi
            printf '\0'
            if [ $arm -eq 1 ]; then printf '%s' "$cpuinfo_arm"; else printf '%s' "$cpuinfo_x86"; fi
            printf '\0'
            printf '%s' "$pat_list"
        } | emit system_readers
        i=$((i + 1))
    done
    # Hand-made: bare lockdown names, a malformed config, odd cmdline
    # quoting and get_option forms, an impossible physical width.
    {
        printf '\x00\x00'; printf '\x00\x00\x00\x00\x00\x00\x00\x00'
        printf 'BOOT_IMAGE=/vmlinuz ro  quiet foo="a b" iomem=relaxed,strict memmap=0x100000,0x1000,010,-2 crashkernel=5-7 "x=y z"'
        printf '\0%s\0' '5.15.0-91-generic'
        printf 'CONFIG_X86_64=y\n# CONFIG_STRICT_DEVMEM is not set\nCONFIG_IO_STRICT_DEVMEM=y\n'
        printf '\0integrity\0%s\0' "$status_user"
        printf 'address sizes : 52 bits physical, 57 bits virtual\n\0'
        printf 'PAT: [mem 0x0-0x1000] write-back\n'
    } | emit system_readers
    {
        printf '\x00\x02'; printf '\xff\xff\xff\xff\xff\xff\xff\xff'
        printf 'iomem=strict iomem=relaxed\0%s\0' '4.4.0'
        printf 'CONFIG_ARM64=y\nCONFIG_ARM64_PA_BITS=52\nCONFIG_DEVMEM=y\n'
        printf '\0none [integrity] [confidentiality\0Uid:\t0\t0\nGid:\t0\t0\nCapEff:\tzz\n\0'
        printf 'address sizes : 99 bits physical\n\0PAT: [mem 0x2000-0x1000] uncached\n'
    } | emit system_readers
    {
        printf '\x00\x00'; printf '\x00\x00\x10\x00\x00\x00\x00\x00'
        printf 'iomem=relaxed\0%s\0' '6.12'
        printf 'CONFIG_DEVMEM\n\0confidentiality\n\0\0\0'
    } | emit system_readers
}

# ---- virtio_mem_device: setup byte + operations ----------------------------
# Opcodes (op % 12): 00 resize B, 01 chain LEN BYTES SPLIT RESP, 02 request
# T BLOCK NB via process_chain, 03 request via execute, 04 config OFF LEN,
# 05 status S, 06 features SEL, 07 activate, 08 reset SEL, 09 host B,
# 0a guest access KIND BLOCK OFF16 LEN, 0b queue N (T BLOCK NB RESP)*N.
# Block byte 4 is the region's first block (bit 7: misaligned by 4 KiB).
gen_virtio_mem_device() {
    local plug_req='\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00'
    local -a seqs=(
        # QEMU (16 MiB extent): resize to 8 blocks, plug 4, state, unplug 2, unplug all, config read
        '\x00\x00\x08\x02\x00\x04\x04\x02\x03\x04\x08\x02\x01\x04\x02\x02\x02\x00\x00\x04\x00\x38'
        # QEMU x86-64: a raw 24-byte PLUG chain split in two, 10-byte response
        "\\x01\\x00\\x10\\x01\\x18${plug_req}\\x08\\x0a\\x02\\x03\\x04\\x20"
        # cloud-hypervisor: resize, plug, system reset, activate, plug again
        '\x02\x00\x10\x02\x00\x04\x08\x08\x00\x07\x02\x00\x04\x08\x04\x00\x38'
        # Firecracker (8 MiB slots): resize, plug, unplug all, resize to 0
        '\x03\x00\x10\x02\x00\x04\x10\x02\x02\x00\x00\x00\x00'
        # migration in progress: plug answered BUSY; then off and plug
        '\x00\x00\x10\x09\x80\x02\x00\x04\x02\x09\x00\x02\x00\x04\x02'
        # guest memory: plug, CPU write and read, DMA read of an unplugged block
        '\x01\x00\x04\x02\x00\x04\x02\x0a\x01\x00\x00\x00\x20\x0a\x00\x00\x00\x00\x20\x0a\x02\x05\x10\x00\x10'
        # a queue of three requests, one with a short response buffer
        '\x00\x00\x10\x0b\x02\x00\x04\x04\x0a\x03\x04\x08\x0a\x01\x04\x02\x05'
        # injected discard and populate failures around plug/unplug
        '\x00\x00\x10\x09\x26\x02\x00\x04\x02\x09\x25\x02\x01\x04\x02\x02\x02\x00\x00'
        # status games: features without UNPLUGGED_INACCESSIBLE, odd status values, reset
        '\x04\x06\x01\x05\x0b\x05\x0f\x05\x00\x06\x02\x00\x00\x00\x00\x01\x00\x00\x00\x05\x0f\x02\x00\x04\x01'
        # removal pending: resize refused, can_remove, a protocol violation (short request)
        '\x10\x09\x83\x00\x00\x09\x04\x01\x05\x00\x00\x00\x00\x00\x00\x0a\x02\x00\x04\x01\x07\x02\x00\x04\x01'
        # initial requested size, misaligned and out-of-region requests, raw resize
        '\x21\x02\x00\x84\x01\x02\x00\x00\x01\x02\x00\x7f\xff\x03\x05\x04\x01\x00\xff\x00\x00\x00\x00\x01\x00\x00\x00'
    )
    local s
    for s in "${seqs[@]}"; do
        printf "$s" | emit virtio_mem_device
    done
}

# ---- driver_answers: setup byte + operations --------------------------------
# Setup: bits 0-1 online type (offline, online, online_kernel, online_movable),
# 2-3 block size (2M, 4M, 128M, 256M), 4-5 rules (mainline, 6.1, 6.12, 5.12).
# Ops (op % 8): 00 resize B, 01 forge N ANSWERS, 02 fail a submit, 03 alloc
# MiB (bit 7 kernel), 04 free N, 05 state BLOCK TYPE, 06 timer, 07 reload.
gen_driver_answers() {
    local -a seqs=(
        # online_movable SBM: grow, fill, shrink, grow, reload
        '\x03\x00\x80\x03\x20\x00\x20\x00\xff\x07'
        # offline SBM: grow past the threshold, online two blocks, shrink
        '\x00\x00\xff\x05\x00\x00\x05\x01\x02\x00\x10'
        # BUSY twice then the timer twice
        '\x03\x01\x01\x02\x00\x80\x06\x06'
        # a forged ERROR breaks the driver; later resizes do nothing
        '\x03\x01\x00\x03\x00\x80\x00\x20'
        # BBM 128 MiB blocks: grow, kernel memory, shrink, timer
        '\x0b\x00\xff\x03\x84\x00\x00\x06'
        # 5.12 rules, online: grow, user offlines, shrink, reload
        '\x31\x00\x80\x05\x01\x03\x00\x00\x07\x00\x40'
    )
    local s
    for s in "${seqs[@]}"; do
        printf "$s" | emit driver_answers
    done
}

# ---- scenario_files: mode byte (bit 0: 0 TOML, 1 scenario.txt) + text -------
gen_scenario_files() {
    local here_docs
    here_docs=$(cd "$here/../docs" && pwd)
    { printf '\x00'; cat "$here_docs/scenario.toml"; } | emit scenario_files
    # Small hand-made TOML scenarios: the built-in machine, one device.
    printf '\x00[machine]\nauto_online = "online"\n[[device]]\nid = "vm0"\nsize = "1G"\nblock_size = "2M"\n[[step]]\nname = "load"\naction = "load-driver"\n[[step]]\nname = "grow"\naction = "resize"\nsize = "256M"\n[[step]]\nname = "fill"\naction = "fill"\nsize = "64M"\n[[step]]\nname = "shrink"\naction = "resize"\nsize = "0"\n[[step]]\nname = "unload"\naction = "unload-driver"\n' | emit scenario_files
    printf '\x00[machine]\n[[device]]\nid = "a"\nsize = "512M"\nblock_size = "128M"\n[[device]]\nid = "b"\nsize = "1G"\nblock_size = "1M"\n[[step]]\nname = "s"\naction = "load-driver"\ndevice = "b"\n[[step]]\nname = "t"\naction = "resize"\ndevice = "b"\nsize = "8M"\n[[step]]\nname = "p"\naction = "probe-devmem"\naddresses = ["0x140000000"]\n' | emit scenario_files
    # The recordings of strict-sbm2M's kernel, as scenario.txt inputs (their
    # step directories exist in the recording the target reads).
    local f
    for f in "$fixtures"/kernel/6.1.0-56-amd64/strict-sbm2M/scenario.txt "$fixtures"/kernel/6.1.0-56-amd64/unload/scenario.txt; do
        [ -f "$f" ] && { printf '\x01'; cat "$f"; } | emit scenario_files
    done
}

for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in
        *" $t "*) ;;
        *) echo "seeds.sh: unknown target $t (known: ${all_targets[*]})" >&2; exit 2 ;;
    esac
    rm -rf "${corpus:?}/$t"
    mkdir -p "$corpus/$t"
    "gen_$t"
    printf '%-18s %4d files %6s\n' "$t" "$(find "$corpus/$t" -type f | wc -l)" "$(du -sh "$corpus/$t" | cut -f1)"
done
[ "$skipped" -eq 0 ] || echo "seeds.sh: skipped $skipped inputs over $max_bytes bytes"
printf '%-18s %17s\n' total "$(du -sh "$corpus" | cut -f1)"
