#!/usr/bin/env bash
# Runs test binaries of this crate under a real older kernel: Debian's Linux 6.1 booted by
# qemu (software emulation: no KVM needed) from a busybox initramfs that carries the test
# binaries, the shared libraries they load, and the kernel's `tls` module with the AEAD
# modules kTLS asks for (AES-GCM, ChaCha20-Poly1305: modules in Debian's build).
#
#   .ci/qemu/run.sh [--kernel-deb PKG] [--numa] [--] TEST_BINARY[::FILTER]...
#
# Each argument is a test executable (as `cargo test --no-run` prints it), optionally with
# `::FILTER` (passed to the libtest harness). Prints the guest's console, then exits with the
# status of the first test binary that failed (0 if all passed). The kernel package is
# downloaded once into target/qemu/. `--numa` gives the guest two NUMA nodes (one CPU and
# half the memory each).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="$repo/target/qemu"
kernel_pkg=linux-image-6.1.0-47-amd64-unsigned
if [[ ${1:-} == --kernel-deb ]]; then kernel_pkg=$2; shift 2; fi
numa=()
if [[ ${1:-} == --numa ]]; then
    numa=(-object memory-backend-ram,id=m0,size=1536M -object memory-backend-ram,id=m1,size=1536M
        -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1)
    shift
fi
[[ ${1:-} == -- ]] && shift
[[ $# -gt 0 ]] || { echo "usage: $0 [--kernel-deb PKG] TEST_BINARY[::FILTER]..." >&2; exit 2; }

need() { command -v "$1" >/dev/null || missing+=("$2"); }
missing=()
need qemu-system-x86_64 qemu-system-x86
need busybox busybox-static
need cpio cpio
apt_get() { apt-get "$@" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get "$@" >/dev/null; }; }
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_get install -y -q "${missing[@]}"
fi

kdir="$cache/$kernel_pkg"
if [[ ! -d $kdir/root ]]; then
    mkdir -p "$kdir"
    (cd "$kdir" && apt_get download "$kernel_pkg" && dpkg -x ./*.deb root && rm ./*.deb)
fi
vmlinuz=$(ls "$kdir"/root/boot/vmlinuz-*)
release=${vmlinuz##*/vmlinuz-}
# In load order (each after what it depends on); tls last.
modules=(crypto/gf128mul crypto/ghash-generic crypto/ctr crypto/gcm lib/crypto/libchacha
    crypto/chacha_generic lib/crypto/libpoly1305 crypto/poly1305_generic
    crypto/chacha20poly1305 net/tls/tls)

# The initramfs: busybox, the test binaries and their libraries, the tls module, an init.
initrd_dir=$(mktemp -d "$cache/initrd.XXXXXX")
trap 'rm -rf "$initrd_dir"' EXIT
mkdir -p "$initrd_dir"/{bin,sbin,proc,sys,dev,tmp,tests,lib,lib64,etc}
cp "$(command -v busybox)" "$initrd_dir/bin/busybox"
for tool in sh mount mkdir ip insmod poweroff cat echo sleep seq uname; do
    ln -s busybox "$initrd_dir/bin/$tool"
done
for m in "${modules[@]}"; do
    ko="$kdir/root/lib/modules/$release/kernel/$m.ko"
    [[ -f $ko ]] && cp "$ko" "$initrd_dir/lib/${m##*/}.ko"
done
runs=()
for arg in "$@"; do
    bin=${arg%%::*}
    filter=""
    [[ $arg == *::* ]] && filter=${arg#*::}
    name=$(basename "$bin")
    cp "$bin" "$initrd_dir/tests/$name"
    for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
        mkdir -p "$initrd_dir$(dirname "$lib")"
        cp -L "$lib" "$initrd_dir$lib"
    done
    runs+=("$name" "$filter")
done
{
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
    echo 'mount -t tmpfs tmp /tmp; ip link set lo up; ulimit -n 20000'
    for m in "${modules[@]}"; do
        echo "[ -f /lib/${m##*/}.ko ] && insmod /lib/${m##*/}.ko"
    done
    echo 'echo "guest kernel: $(uname -r), ULPs: $(cat /proc/sys/net/ipv4/tcp_available_ulp), NUMA nodes online: $(cat /sys/devices/system/node/online)"'
    echo 'export TMPDIR=/tmp RUST_BACKTRACE=1 SAFER_RING_GUEST_KERNEL=1; rc=0'
    for ((i = 0; i < ${#runs[@]}; i += 2)); do
        echo "echo '==> ${runs[i]} ${runs[i+1]}'"
        echo "/tests/${runs[i]} ${runs[i+1]} --test-threads=2; s=\$?"
        echo '[ $s != 0 ] && [ $rc = 0 ] && rc=$s' 
    done
    echo 'echo "QEMU-TESTS-RC=$rc"; poweroff -f'
} > "$initrd_dir/init"
chmod +x "$initrd_dir/init"
initrd="$cache/initrd.cpio.gz"
(cd "$initrd_dir" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd"

log="$cache/console.log"
timeout 1500 qemu-system-x86_64 -m 3072 -smp 2 "${numa[@]}" -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet panic=-1 rdinit=/init" | tee "$log"
rc=$(grep -o 'QEMU-TESTS-RC=[0-9]*' "$log" | tail -1 | cut -d= -f2)
[[ -n $rc ]] || { echo "qemu: the guest did not report (crashed or timed out)" >&2; exit 1; }
exit "$rc"
