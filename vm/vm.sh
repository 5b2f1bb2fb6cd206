#!/usr/bin/env bash
# edgefw kernel matrix: boots Debian's stock cloud kernels under QEMU with an
# initramfs holding the test binaries, and runs the data-plane suite there.
#
#   vm/vm.sh matrix [SERIES...]   every series (default: vm/config.sh), then a table
#   vm/vm.sh run SERIES           one series; log in build/vm/SERIES.log
#   vm/vm.sh prepare SERIES       fetch the kernel, build the initramfs, print paths
#   vm/vm.sh deps                 install the host packages the harness needs
#
# Cached under build/vm/ and rebuilt only when an input changes: kernel
# packages by name and version (build/vm/debs), unpacked kernels and their
# modules (build/vm/kernels), one initramfs per series keyed by a hash of
# every file that goes in (build/vm/SERIES/).
#
# Environment: EDGEFW_VM_ACCEL=kvm|tcg (default: kvm when /dev/kvm opens),
# EDGEFW_VM_TIMEOUT (seconds per boot), EDGEFW_DIFF_PACKETS (differential test
# size in the guest), EDGEFW_DIFF_SEED (passed through when set),
# EDGEFW_VM_PKG_<series with _> (pin a kernel package), EDGEFW_VM_E2E=0 (skip
# tests/e2e in the guest), EDGEFW_VM_STEPS=smoke,lifecycle (run only these
# guest steps, comma-separated; for debugging: such a run cannot pass the
# matrix, see vm/init), BUILD (build dir).
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export BUILD=${BUILD:-build}
VMDIR=$BUILD/vm
# shellcheck source=vm/config.sh
source vm/config.sh

log() { printf 'vm: %s\n' "$*" >&2; }
die() {
  printf 'vm: error: %s\n' "$*" >&2
  exit 2
}

# ---- host packages ---------------------------------------------------------

apt_updated=0
apt_update() {
  [ $apt_updated -eq 1 ] && return 0
  log "apt-get update"
  apt-get update -qq >&2 || log "apt-get update failed (offline?)"
  apt_updated=1
}

cmd_deps() {
  local missing=() p
  for p in "${VM_HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # What tests/e2e needs, through its own installer (copied into the guest).
  if [ -x tests/e2e/install-deps.sh ] && [ -z "${EDGEFW_VM_NO_E2E_DEPS:-}" ]; then
    tests/e2e/install-deps.sh >&2 || log "tests/e2e/install-deps.sh failed; e2e tests may skip in the guest"
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root or: apt-get install ${missing[*]})"
  log "installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# ---- kernel packages -------------------------------------------------------

# The package to use for SERIES: pinned from the environment, else the newest
# name apt knows that matches the series' regex.
resolve_pkg() {
  local series=$1 pin_var="EDGEFW_VM_PKG_${1//[.-]/_}" regex pkg
  if [ -n "${!pin_var:-}" ]; then
    echo "${!pin_var}"
    return
  fi
  regex=${VM_PKG_REGEX[$series]:-}
  [ -n "$regex" ] || die "unknown series '$series' (vm/config.sh has: ${VM_SERIES[*]})"
  pkg=$(apt-cache pkgnames linux-image- 2>/dev/null | grep -E "$regex" | sort -V | tail -n 1 || true)
  if [ -z "$pkg" ]; then
    apt_update
    pkg=$(apt-cache pkgnames linux-image- 2>/dev/null | grep -E "$regex" | sort -V | tail -n 1 || true)
  fi
  if [ -z "$pkg" ]; then
    # Offline: the newest package already cached.
    pkg=$(find "$VMDIR/debs" -name 'linux-image-*.deb' -printf '%f\n' 2>/dev/null |
      sed 's/_.*//' | grep -E "$regex" | sort -V | tail -n 1 || true)
  fi
  [ -n "$pkg" ] || die "no package matches $regex (apt-cache pkgnames linux-image-)"
  echo "$pkg"
}

# Downloads PKG (candidate version) into build/vm/debs once; prints the .deb path.
fetch_deb() {
  local pkg=$1 ver deb
  mkdir -p "$VMDIR/debs"
  ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1 || true)
  if [ -z "$ver" ]; then
    deb=$(ls -1 "$VMDIR/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$deb" ] || die "apt knows no version of $pkg"
    log "apt knows no version of $pkg; using cached $deb"
    echo "$deb"
    return
  fi
  deb="$VMDIR/debs/${pkg}_${ver#*:}_amd64.deb"
  if [ ! -s "$deb" ]; then
    log "apt-get download $pkg=$ver"
    if ! (cd "$VMDIR/debs" && apt-get -q -o APT::Sandbox::User=root download "$pkg=$ver" >&2); then
      apt_update
      (cd "$VMDIR/debs" && apt-get -q -o APT::Sandbox::User=root download "$pkg=$ver" >&2) ||
        die "apt-get download $pkg=$ver failed"
    fi
    [ -s "$deb" ] || die "apt-get download did not leave $deb"
  fi
  echo "$deb"
}

# Unpacks DEB under build/vm/kernels/NAME, runs depmod, resolves the modules
# of vm/config.sh with their dependencies (modules.dep order) and decompresses
# them into mods/. Prints the kernel dir.
unpack_kernel() {
  local deb=$1 name kdir kver want tmp line path m
  name=$(basename "$deb" .deb)
  kdir=$VMDIR/kernels/$name
  want="${VM_MODULES[*]}"
  if [ -f "$kdir/.done" ] && [ "$(cat "$kdir/.done")" = "$want" ]; then
    echo "$kdir"
    return
  fi
  log "unpacking $name"
  rm -rf "$kdir"
  mkdir -p "$kdir/mods"
  dpkg-deb -x "$deb" "$kdir/root"
  kver=$(ls "$kdir/root/lib/modules")
  [ "$(echo "$kver" | wc -l)" -eq 1 ] || die "$deb: expected one module tree, got: $kver"
  cp "$kdir/root/boot/vmlinuz-$kver" "$kdir/vmlinuz"
  cp "$kdir/root/boot/config-$kver" "$kdir/config"
  echo "$kver" >"$kdir/kver"
  depmod -b "$kdir/root" "$kver"
  tmp=$kdir/modules.tmp
  : >"$tmp"
  for m in "${VM_MODULES[@]}"; do
    if ! modprobe -d "$kdir/root" -S "$kver" --show-depends "$m" >"$kdir/deps.$m" 2>&1; then
      log "$kver: no module $m, skipped: $(cat "$kdir/deps.$m")"
      continue
    fi
    while read -r line; do
      case $line in
      builtin*) log "$kver: ${line#builtin } is built in" ;;
      insmod*)
        path=$(echo "$line" | awk '{print $2}')
        m=$(basename "$path")
        m=${m%.xz}
        m=${m%.zst}
        m=${m%.gz}
        m=${m%.ko}
        grep -qxF "$m" "$tmp" && continue
        case $path in
        *.ko.xz) xz -dc "$path" >"$kdir/mods/$m.ko" ;;
        *.ko.zst) zstd -qdc "$path" >"$kdir/mods/$m.ko" ;;
        *.ko.gz) gzip -dc "$path" >"$kdir/mods/$m.ko" ;;
        *.ko) cp "$path" "$kdir/mods/$m.ko" ;;
        *) die "unexpected module file $path" ;;
        esac
        echo "$m" >>"$tmp"
        ;;
      *) [ -z "$line" ] || die "$kver: modprobe --show-depends: $line" ;;
      esac
    done <"$kdir/deps.$m"
  done
  mv "$tmp" "$kdir/modules"
  echo "$want" >"$kdir/.done"
  echo "$kdir"
}

# ---- initramfs -------------------------------------------------------------

# Files that go in as they are: every (source, destination) pair, one a line
# as "SRC<TAB>DEST". Shared libraries come from ldd of each binary.
STAGE_LIST=
add() { printf '%s\t%s\n' "$1" "$2" >>"$STAGE_LIST"; }
add_libs() {
  local bin=$1 lib
  # "libx.so => /lib/.../libx.so (0x..)" and "/lib64/ld-linux-x86-64.so.2 (0x..)"
  while read -r lib; do
    [ -n "$lib" ] && add "$lib" "$lib"
  done < <(ldd "$bin" 2>/dev/null | sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p')
  if ldd "$bin" 2>&1 | grep -q 'not found'; then
    die "$bin: $(ldd "$bin" | grep 'not found' | tr '\n' ' ')"
  fi
}
add_bin() {  # SRC DEST: an executable and its libraries
  add "$1" "$2"
  if ldd "$1" >/dev/null 2>&1; then add_libs "$1"; fi  # static: "not a dynamic executable"
}

build_stage_list() {
  local kdir=$1 t path f
  STAGE_LIST=$(mktemp)
  add "vm/init" /init
  add "$(command -v busybox)" /bin/busybox
  for t in "${VM_TOOLS[@]}"; do
    path=$(command -v "$t") || die "host tool $t missing (vm/vm.sh deps)"
    add_bin "$path" "/usr/sbin/$t"
  done
  for t in "${VM_TOOLS_OPTIONAL[@]}"; do
    if path=$(command -v "$t"); then add_bin "$path" "/usr/sbin/$t"; else log "optional tool $t not on the host, skipped"; fi
  done
  for t in "${VM_PACKAGES_OPTIONAL[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$t" 2>/dev/null | grep -q "install ok installed"; then
      log "optional package $t not installed on the host, skipped"
      continue
    fi
    while read -r f; do
      [ -f "$f" ] || continue
      case $f in /usr/share/doc/* | /usr/share/man/* | /usr/share/locale/* | /usr/share/info/* | /usr/share/lintian/*) continue ;; esac
      add "$f" "$f"
      if [ "$(head -c 4 "$f" | tail -c 3)" = ELF ] && ldd "$f" >/dev/null 2>&1; then add_libs "$f"; fi
    done < <(dpkg -L "$t")
  done
  for f in /etc/passwd /etc/group /etc/services /etc/protocols /etc/ethertypes; do
    [ -f "$f" ] && add "$f" "$f"
  done
  for f in "$BUILD/edgefw" "$BUILD/tests/dataplane"; do
    [ -x "$f" ] || die "$f missing: run make first"
    add_bin "$f" "/edgefw/$f"
  done
  [ -f "$BUILD/bpf/edgefw.bpf.o" ] || die "$BUILD/bpf/edgefw.bpf.o missing: run make first"
  add "$BUILD/bpf/edgefw.bpf.o" "/edgefw/build/bpf/edgefw.bpf.o"
  for f in policies/*; do add "$f" "/edgefw/$f"; done
  for f in tests/lib/common.sh tests/lifecycle/lib.sh tests/lifecycle/hooks.sh tests/lifecycle/xdp_multiprog.sh; do add "$f" "/edgefw/$f"; done
  if [ -d tests/e2e ]; then
    while read -r f; do
      add "$f" "/edgefw/$f"
      if [ -x "$f" ] && [ "$(head -c 4 "$f" | tail -c 3)" = ELF ] && ldd "$f" >/dev/null 2>&1; then add_libs "$f"; fi
    done < <(find tests/e2e -type f | sort)
  fi
  for f in $(cat "$kdir/modules"); do add "$kdir/mods/$f.ko" "/lib/modules/$f.ko"; done
  add "$kdir/modules" /etc/edgefw/modules
  sort -u -o "$STAGE_LIST" "$STAGE_LIST"
}

# Hash of every input of the initramfs: the files' contents and places, the
# harness itself and the busybox applet list.
inputs_hash() {
  {
    cat "$STAGE_LIST"
    cut -f1 "$STAGE_LIST" | xargs -d '\n' sha256sum
    sha256sum vm/vm.sh vm/config.sh
  } | sha256sum | cut -d' ' -f1
}

build_initramfs() {  # SERIES KDIR -> prints the cpio path
  local series=$1 kdir=$2 out stage hash src dest a
  out=$VMDIR/$series/initramfs.cpio.gz
  mkdir -p "$VMDIR/$series"
  build_stage_list "$kdir"
  hash=$(inputs_hash)
  if [ -s "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$hash" ]; then
    rm -f "$STAGE_LIST"
    echo "$out"
    return
  fi
  log "$series: building initramfs"
  stage=$VMDIR/$series/rootfs
  rm -rf "$stage"
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc/edgefw,var}
  ln -s ../run "$stage/var/run"
  while IFS=$'\t' read -r src dest; do
    mkdir -p "$stage$(dirname "$dest")"
    cp -L "$src" "$stage$dest"
  done <"$STAGE_LIST"
  rm -f "$STAGE_LIST"
  # Debug info only makes the image big; symbols stay for backtraces.
  strip --strip-debug "$stage/edgefw/build/edgefw" "$stage/edgefw/build/tests/dataplane"
  # busybox for the rest; bash is the shell (busybox ash would run its own
  # applets ahead of the real tools), and no applet shadows a real tool.
  mv "$stage/usr/sbin/bash" "$stage/bin/bash"
  ln -s bash "$stage/bin/sh"
  for a in $("$stage/bin/busybox" --list); do
    [ -e "$stage/bin/$a" ] || [ -e "$stage/usr/sbin/$a" ] || ln -s busybox "$stage/bin/$a"
  done
  [ -f "$stage/etc/passwd" ] || printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
  [ -f "$stage/etc/group" ] || printf 'root:x:0:\n' >"$stage/etc/group"
  # The guest's host name (vm/init) resolves: sipsak puts it in its headers
  # and gives up when it cannot.
  printf '127.0.0.1 localhost\n127.0.1.1 edgefw-vm\n::1 localhost\n' >"$stage/etc/hosts"
  [ ! -e "$stage/usr/bin/mawk" ] || ln -sf mawk "$stage/usr/bin/awk"
  chmod 755 "$stage/init"
  (cd "$stage" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -1 >"$out.tmp"
  mv "$out.tmp" "$out"
  echo "$hash" >"$out.inputs"
  rm -rf "$stage"
  echo "$out"
}

cmd_prepare() {  # SERIES -> "PKG KDIR INITRAMFS"
  local series=$1 pkg deb kdir initrd
  pkg=$(resolve_pkg "$series") || return 1
  deb=$(fetch_deb "$pkg") || return 1
  kdir=$(unpack_kernel "$deb") || return 1
  initrd=$(build_initramfs "$series" "$kdir") || return 1
  echo "$pkg $kdir $initrd"
}

# ---- boot ------------------------------------------------------------------

# KVM when /dev/kvm opens and is a hardware-assisted KVM. PVM (kvm_pvm, the
# paravirtual nested KVM of some cloud sandboxes) runs only PVM-built guest
# kernels: Debian's stock kernels die there with "KVM internal error".
KVM_BROKEN=
kvm_usable() {
  [ -z "$KVM_BROKEN" ] || return 1
  [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null || {
    KVM_BROKEN="/dev/kvm does not open"
    return 1
  }
  if [ -d /sys/module/kvm_pvm ]; then
    KVM_BROKEN="/dev/kvm is PVM (kvm_pvm), which cannot run stock kernels"
    return 1
  fi
}

# boot_qemu ACCEL CPU TIMEOUT APPEND KERNEL INITRD LOG: sets BOOT_RC to qemu's
# exit status, 124 on timeout, 125 when KVM failed (internal error, or no
# sign of init within VM_KVM_PROBE seconds).
boot_qemu() {
  local accel=$1 cpu=$2 tmo=$3 append=$4 kernel=$5 initrd=$6 logf=$7 raw=$7.raw pid start el
  qemu-system-x86_64 -accel "$accel" -cpu "$cpu" \
    -m "$VM_MEM" -smp "$VM_SMP" -nographic -no-reboot -nic none \
    -kernel "$kernel" -initrd "$initrd" -append "$append" </dev/null >"$raw" 2>&1 &
  pid=$!
  start=$SECONDS
  BOOT_RC=
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    el=$((SECONDS - start))
    if [ "$el" -ge "$tmo" ]; then
      BOOT_RC=124
    elif [ "$accel" = kvm ]; then
      if grep -aqE 'KVM internal error|emulation failure' "$raw"; then
        BOOT_RC=125
      elif [ "$el" -ge "$VM_KVM_PROBE" ] && ! grep -aq 'EDGEFW-VM: kernel' "$raw"; then
        BOOT_RC=125
      fi
    fi
    [ -z "$BOOT_RC" ] || break
  done
  if [ -n "$BOOT_RC" ]; then
    kill "$pid" 2>/dev/null || true
    sleep 2
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    BOOT_RC=0
    wait "$pid" || BOOT_RC=$?
  fi
  tr -d '\r' <"$raw" >"$logf"
  rm -f "$raw"
}

# The failures of one guest log, short: failed steps, the verifier's verdicts
# (the lines above "processed N insns"), failed tests and their distinct messages.
failure_summary() {
  local logf=$1
  grep -a 'EDGEFW-VM-STEP:.*FAIL' "$logf" || true
  if grep -aq 'BEGIN PROG LOAD LOG' "$logf"; then
    echo "verifier rejections (program, last instructions, verdict):"
    awk '/-- BEGIN PROG LOAD LOG --/ { prog = $3; n = 0; next }
         /^processed [0-9]+ insns/ { print "  " prog; for (i = n - 5; i < n; i++) if (i >= 0) print "    " last[i % 5]; print "    " $0; next }
         { last[n % 5] = $0; n++ }' "$logf" | awk '!seen[$0]++ || /^    [0-9]+:/' | head -n 40
  fi
  if grep -aq '^\[FAIL\]' "$logf"; then
    echo "failed tests: $(grep -ac '^\[FAIL\]' "$logf"); distinct messages:"
    grep -a '^\[----\] ' "$logf" | sed -e 's/^\[----\] [^ ]*: //' -e 's/^[^ ]*:[0-9]*: //' |
      sort | uniq -c | sort -rn | head -n 15
  fi
}

cmd_run() {  # SERIES: boots it; writes build/vm/SERIES.log and .result
  local series=$1 pkg kdir initrd accel cpu tmo packets append logf res rc t0 t1 line verdict out
  rm -f "$VMDIR/$series.result"
  # A process of its own, so that set -e holds there (not in an `||` context).
  out=$("$ROOT/vm/vm.sh" prepare "$series") || { log "$series: prepare failed"; return 1; }
  read -r pkg kdir initrd <<<"$out"
  logf=$VMDIR/$series.log
  res=$VMDIR/$series.result
  accel=${EDGEFW_VM_ACCEL:-}
  if [ -z "$accel" ]; then
    if kvm_usable; then accel=kvm; else
      accel=tcg
      log "$series: TCG: $KVM_BROKEN"
    fi
  fi
  while :; do
    if [ "$accel" = kvm ]; then
      cpu=host tmo=$VM_TIMEOUT_KVM packets=$VM_DIFF_PACKETS_KVM
    else
      cpu=max tmo=$VM_TIMEOUT_TCG packets=$VM_DIFF_PACKETS_TCG
    fi
    tmo=${EDGEFW_VM_TIMEOUT:-$tmo}
    packets=${EDGEFW_DIFF_PACKETS:-$packets}
    # Parameters without a dot reach init's environment.
    append="console=ttyS0 panic=-1 rdinit=/init loglevel=4 EDGEFW_DIFF_PACKETS=$packets"
    [ -z "${EDGEFW_DIFF_SEED:-}" ] || append+=" EDGEFW_DIFF_SEED=$EDGEFW_DIFF_SEED"
    [ -z "${EDGEFW_VM_E2E:-}" ] || append+=" EDGEFW_VM_E2E=$EDGEFW_VM_E2E"
    [ -z "${EDGEFW_VM_STEPS:-}" ] || append+=" EDGEFW_VM_STEPS=$EDGEFW_VM_STEPS"
    log "$series: booting $pkg ($accel, timeout ${tmo}s, EDGEFW_DIFF_PACKETS=$packets)"
    t0=$(date +%s)
    boot_qemu "$accel" "$cpu" "$tmo" "$append" "$kdir/vmlinuz" "$initrd" "$logf"
    rc=$BOOT_RC
    t1=$(date +%s)
    if [ "$rc" -eq 125 ] && [ -z "${EDGEFW_VM_ACCEL:-}" ]; then
      KVM_BROKEN="KVM failed to boot $series: $(grep -aE -m1 'KVM internal error|emulation failure' "$logf" || echo 'no init output')"
      log "$series: $KVM_BROKEN; retrying with TCG (log of the KVM try: $logf.kvm)"
      mv "$logf" "$logf.kvm"
      accel=tcg
      continue
    fi
    break
  done
  # Pessimistic: PASS only with the guest's result line at failed=0, no
  # panic or oops in the log, and qemu ending by itself.
  line=$(grep -a '^EDGEFW-VM-RESULT:' "$logf" | tail -n 1 || true)
  verdict=FAIL
  local why=""
  if [ "$rc" -eq 124 ]; then
    why="timeout after ${tmo}s"
  elif [ "$rc" -eq 125 ]; then
    why="KVM failed"
  elif [ -z "$line" ]; then
    why="no result line (qemu exit $rc)"
  elif grep -aqE 'Kernel panic|BUG:|Oops' "$logf"; then
    why="kernel panic/oops in log"
  elif [[ $line =~ ^EDGEFW-VM-RESULT:\ PASS\ passed=[1-9][0-9]*\ failed=0$ ]]; then
    verdict=PASS
  else
    why="guest reported failures"
  fi
  local passed failed
  passed=$(sed -n 's/.* passed=\([0-9]*\).*/\1/p' <<<"$line")
  failed=$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$line")
  {
    echo "series=$series"
    echo "pkg=$pkg"
    echo "kver=$(cat "$kdir/kver")"
    echo "accel=$accel"
    echo "verdict=$verdict"
    echo "why='$why'"
    echo "passed=${passed:--}"
    echo "failed=${failed:--}"
    echo "seconds=$((t1 - t0))"
    echo "diff_packets=$packets"
    # progs::info: "ef_xdp_ingress: id N, X xlated insns, J jited bytes, V verified insns"
    sed -n 's/.*\(ef_[a-z_]*\): id [0-9]*, \([0-9]*\) xlated insns, \([0-9]*\) jited bytes, \([0-9]*\) verified insns.*/prog_\1="\2 \4"/p' "$logf" | sort -u
    sed -n 's/^EDGEFW-VM-BPFTOOL: prog=\(ef_[a-z_]*\) xlated_insns=\([0-9]*\).*/bpftool_\1=\2/p' "$logf" | sort -u
    # tests/lifecycle/hooks.sh: "kernel K, libbpf V, tcx: true|false" -> the TC egress path auto picks
    sed -n 's/^kernel .*, libbpf .*, tcx: true$/tc_path=tcx/p; s/^kernel .*, libbpf .*, tcx: false$/tc_path=netlink/p' "$logf" | tail -n 1
  } >"$res"
  if [ "$verdict" = PASS ]; then
    log "$series: PASS ($line) in $((t1 - t0))s"
    return 0
  fi
  log "$series: FAIL: $why; log: $logf"
  failure_summary "$logf" | sed 's/^/  | /' >&2
  log "$series: log tail:"
  tail -n 40 "$logf" | sed 's/^/  | /' >&2
  return 1
}

# ---- matrix ----------------------------------------------------------------

insns() {  # "xlated verified" from progs::info, else bpftool's xlated
  if [ -n "$1" ]; then echo "${1% *}/${1#* }"; elif [ -n "$2" ]; then echo "$2/?"; else echo "-"; fi
}

cmd_matrix() {
  local list=("$@") s status=0
  [ ${#list[@]} -gt 0 ] || list=("${VM_SERIES[@]}")
  cmd_deps
  for s in "${list[@]}"; do
    cmd_run "$s" || status=1
  done
  echo
  printf '%-6s %-30s %-5s %-6s %6s %6s %-20s %-20s %-8s %6s\n' kernel version accel result passed failed \
    'xdp_ingress xl/ver' 'tc_egress xl/ver' 'tc path' time
  for s in "${list[@]}"; do
    local series= kver= accel= verdict= passed=- failed=- seconds=- why= \
      prog_ef_xdp_ingress= prog_ef_tc_egress= bpftool_ef_xdp_ingress= bpftool_ef_tc_egress= pkg= diff_packets= \
      tc_path=-
    if [ -f "$VMDIR/$s.result" ]; then
      # shellcheck disable=SC1090
      source "$VMDIR/$s.result"
    else
      verdict=FAIL why="no result (prepare failed?)"
    fi
    printf '%-6s %-30s %-5s %-6s %6s %6s %-20s %-20s %-8s %5ss\n' "$s" "${kver:--}" "${accel:--}" "$verdict" \
      "$passed" "$failed" "$(insns "$prog_ef_xdp_ingress" "$bpftool_ef_xdp_ingress")" \
      "$(insns "$prog_ef_tc_egress" "$bpftool_ef_tc_egress")" "$tc_path" "$seconds"
    [ -z "$why" ] || printf '       %s (log: %s)\n' "$why" "$VMDIR/$s.log"
  done
  echo "(xl/ver: xlated / verifier-processed instructions of the programs as 'edgefw load' configures them;"
  echo " tc path: the TC egress hook --tc auto picked; EDGEFW_DIFF_PACKETS=${diff_packets:-?} in the guest)"
  if [ $status -eq 0 ]; then echo "vm-check: all kernels passed"; else echo "vm-check: FAILED"; fi
  return $status
}

case ${1:-} in
deps) cmd_deps ;;
prepare)
  [ $# -eq 2 ] || die "usage: vm/vm.sh prepare SERIES"
  cmd_deps
  cmd_prepare "$2"
  ;;
run)
  [ $# -eq 2 ] || die "usage: vm/vm.sh run SERIES"
  cmd_deps
  cmd_run "$2"
  ;;
matrix)
  shift
  cmd_matrix "$@"
  ;;
*) die "usage: vm/vm.sh matrix [SERIES...] | run SERIES | prepare SERIES | deps" ;;
esac
