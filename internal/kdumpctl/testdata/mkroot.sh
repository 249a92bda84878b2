#!/bin/sh
# Recreates testdata/root: the running system kdumpctl sees in the tests,
# a QEMU guest of Debian's 6.1 cloud kernel with 2 GiB of RAM and
# crashkernel=256M: /proc and /sys files for kexec and the reservation, a
# virtio disk vda (vda1 ext4 mounted on /, UUID 0b1c...) and a virtio NIC
# eth0 (10.0.2.15/24 via 10.0.2.2), a stand-in kernel image and
# capture-init, and a module tree where the drivers are built in (the
# module closure itself is tested in package initramfs). Run it from the
# package directory.
set -eu
R=testdata/root
REL=6.1.0-56-cloud-amd64
rm -rf "$R"
mkdir -p "$R"
cd "$R"
P=sys/devices/pci0000:00
mkdir -p $P/0000:00:04.0/virtio1/block/vda/vda1 $P/0000:00:03.0/virtio0/net/eth0 \
	sys/bus/pci/drivers/virtio-pci sys/bus/virtio/drivers/virtio_blk sys/bus/virtio/drivers/virtio_net \
	sys/class/block sys/class/net sys/dev/block sys/kernel/security dev/disk/by-uuid proc/self proc/net proc/sys/kernel \
	boot lib/modules/$REL usr/lib/kdumpkit etc var/crash
echo 'pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00' > $P/0000:00:04.0/modalias
echo 'pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00' > $P/0000:00:03.0/modalias
echo 'virtio:d00000002v00001AF4' > $P/0000:00:04.0/virtio1/modalias
echo 'virtio:d00000001v00001AF4' > $P/0000:00:03.0/virtio0/modalias
ln -s ../../../bus/pci/drivers/virtio-pci $P/0000:00:04.0/driver
ln -s ../../../bus/pci/drivers/virtio-pci $P/0000:00:03.0/driver
ln -s ../../../../bus/virtio/drivers/virtio_blk $P/0000:00:04.0/virtio1/driver
ln -s ../../../../bus/virtio/drivers/virtio_net $P/0000:00:03.0/virtio0/driver
echo 253:0 > $P/0000:00:04.0/virtio1/block/vda/dev
echo 253:1 > $P/0000:00:04.0/virtio1/block/vda/vda1/dev
ln -s ../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda sys/class/block/vda
ln -s ../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1 sys/class/block/vda1
ln -s ../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1 sys/dev/block/253:1
ln -s ../../../virtio0 $P/0000:00:03.0/virtio0/net/eth0/device
echo 52:54:00:12:34:56 > $P/0000:00:03.0/virtio0/net/eth0/address
ln -s ../../devices/pci0000:00/0000:00:03.0/virtio0/net/eth0 sys/class/net/eth0
echo 0 > sys/kernel/kexec_crash_loaded
echo 268435456 > sys/kernel/kexec_crash_size
echo '[none] integrity confidentiality' > sys/kernel/security/lockdown
: > dev/vda1
ln -s ../../vda1 dev/disk/by-uuid/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
echo '22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw' > proc/self/mountinfo
echo "BOOT_IMAGE=/boot/vmlinuz-$REL root=UUID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0 ro console=ttyS0 quiet crashkernel=256M" > proc/cmdline
echo $REL > proc/sys/kernel/osrelease
echo 0 > proc/sys/kernel/kexec_load_disabled
: > proc/sysrq-trigger
cat > proc/iomem <<'IOMEM'
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000f0000-000fffff : Reserved
00100000-7ffdefff : System RAM
  2d000000-3cffffff : Crash kernel
  61c00000-62a02226 : Kernel code
7ffdf000-7fffffff : Reserved
IOMEM
printf 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' > proc/net/route
printf 'eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' >> proc/net/route
printf 'eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' >> proc/net/route
echo 'nameserver 10.0.2.3' > etc/resolv.conf
printf 'stand-in kernel image\n' > boot/vmlinuz-$REL
printf 'CONFIG_CRASH_DUMP=y\nCONFIG_PROC_VMCORE=y\nCONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n' > boot/config-$REL
: > lib/modules/$REL/modules.dep
printf 'kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\nkernel/fs/ext4/ext4.ko\n' > lib/modules/$REL/modules.builtin
printf '#!/bin/false\nstand-in capture-init\n' > usr/lib/kdumpkit/capture-init
chmod 755 usr/lib/kdumpkit/capture-init

# git keeps no empty directories, and the tests need these to exist.
find . -type d -empty -exec touch {}/.gitkeep \;
