#!/bin/sh
# Recreates testdata/root, a /sys, /proc and /dev fixture of a QEMU guest:
# a virtio-blk disk vda (partition vda1, ext4, UUID 0b1c...) on virtio-pci
# 0000:00:04.0, a virtio-net NIC eth0 on 0000:00:03.0 enslaved to bond0,
# and a device-mapper volume dm-0 on vda2. Drivers are bound the way
# Debian's 6.1 cloud kernel binds them (virtio_pci, virtio_blk and
# virtio_net as modules). Run from the initramfs directory.
set -eu
R=testdata/root
rm -rf "$R"
mkdir -p "$R"
cd "$R"
P=sys/devices/pci0000:00
mkdir -p $P/0000:00:04.0/virtio1/block/vda/vda1 $P/0000:00:04.0/virtio1/block/vda/vda2 \
	$P/0000:00:03.0/virtio0/net/eth0 sys/devices/virtual/net/bond0/bonding sys/devices/virtual/block/dm-0/slaves \
	sys/bus/pci/drivers/virtio-pci sys/bus/virtio/drivers/virtio_blk sys/bus/virtio/drivers/virtio_net \
	sys/module/virtio_pci sys/module/virtio_blk sys/module/virtio_net sys/class/block sys/class/net sys/dev/block \
	dev/disk/by-uuid dev/disk/by-label dev/mapper proc/self proc/net
echo 'pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00' > $P/0000:00:04.0/modalias
echo 'pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00' > $P/0000:00:03.0/modalias
echo 'virtio:d00000002v00001AF4' > $P/0000:00:04.0/virtio1/modalias
echo 'virtio:d00000001v00001AF4' > $P/0000:00:03.0/virtio0/modalias
ln -s ../../../bus/pci/drivers/virtio-pci $P/0000:00:04.0/driver
ln -s ../../../bus/pci/drivers/virtio-pci $P/0000:00:03.0/driver
ln -s ../../../../bus/virtio/drivers/virtio_blk $P/0000:00:04.0/virtio1/driver
ln -s ../../../../bus/virtio/drivers/virtio_net $P/0000:00:03.0/virtio0/driver
ln -s ../../../../module/virtio_pci sys/bus/pci/drivers/virtio-pci/module
ln -s ../../../../module/virtio_blk sys/bus/virtio/drivers/virtio_blk/module
ln -s ../../../../module/virtio_net sys/bus/virtio/drivers/virtio_net/module
echo 253:0 > $P/0000:00:04.0/virtio1/block/vda/dev
echo 253:1 > $P/0000:00:04.0/virtio1/block/vda/vda1/dev
echo 253:2 > $P/0000:00:04.0/virtio1/block/vda/vda2/dev
echo 254:0 > sys/devices/virtual/block/dm-0/dev
ln -s ../../../../pci0000:00/0000:00:04.0/virtio1/block/vda/vda2 sys/devices/virtual/block/dm-0/slaves/vda2
ln -s ../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda sys/class/block/vda
ln -s ../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1 sys/class/block/vda1
ln -s ../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda2 sys/class/block/vda2
ln -s ../../devices/virtual/block/dm-0 sys/class/block/dm-0
ln -s ../../devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1 sys/dev/block/253:1
ln -s ../../devices/virtual/block/dm-0 sys/dev/block/254:0
ln -s ../../../virtio0 $P/0000:00:03.0/virtio0/net/eth0/device
echo 'INTERFACE=eth0' > $P/0000:00:03.0/virtio0/net/eth0/uevent
echo 'DEVTYPE=bond' > sys/devices/virtual/net/bond0/uevent
ln -s ../../../pci0000:00/0000:00:03.0/virtio0/net/eth0 sys/devices/virtual/net/bond0/lower_eth0
ln -s ../../devices/pci0000:00/0000:00:03.0/virtio0/net/eth0 sys/class/net/eth0
ln -s ../../devices/virtual/net/bond0 sys/class/net/bond0
: > dev/vda1
: > dev/dm-0
ln -s ../../vda1 dev/disk/by-uuid/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0
ln -s ../../vda1 dev/disk/by-label/dumps
ln -s ../dm-0 dev/mapper/vg-crash
cat > proc/self/mountinfo <<'MI'
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=1000k
24 22 254:0 / /var/crash rw,relatime shared:3 - xfs /dev/mapper/vg-crash rw,attr2
25 22 0:40 / /mnt/dumps\040here rw,relatime shared:4 - nfs4 192.0.2.7:/export rw,vers=4.2,addr=192.0.2.7
MI
printf 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' > proc/net/route
printf 'bond0\t00000000\t0202000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' >> proc/net/route
printf 'bond0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n' >> proc/net/route
printf 'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' >> proc/net/route
cat > proc/net/ipv6_route <<'V6'
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003    bond0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
V6

# git keeps no empty directories, and the tests need these to exist.
find . -type d -empty -exec touch {}/.gitkeep \;
