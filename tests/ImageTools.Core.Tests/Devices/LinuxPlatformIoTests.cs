using FluentAssertions;
using ImageTools.Core.Platform;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Devices;

/// <summary>
/// The device-use logic over a /proc and /sys laid out as the kernel lays them out, for cases the test
/// machine's kernel may not be able to show (partitions of a loop device, swap, device-mapper holders).
/// </summary>
public sealed class LinuxPlatformIoTests : IDisposable
{
    private readonly TempDirectory _dir = new("fake-sysfs-");

    public void Dispose() => _dir.Dispose();

    private LinuxPlatformIo FakeSystem(string mountinfo, params string[] holdersOfPartition2)
    {
        var proc = Directory.CreateDirectory(_dir.File("proc/self")).Parent!.FullName;
        File.WriteAllText(Path.Combine(proc, "self", "mountinfo"), mountinfo);
        File.WriteAllText(Path.Combine(proc, "swaps"), "Filename\tType\tSize\tUsed\tPriority\n");
        var sys = _dir.File("sys");
        var disk = Directory.CreateDirectory(Path.Combine(sys, "devices/virtual/block/loop5")).FullName;
        File.WriteAllText(Path.Combine(disk, "dev"), "7:5\n");
        Directory.CreateDirectory(Path.Combine(disk, "holders"));
        for (var n = 1; n <= 2; n++)
        {
            var part = Directory.CreateDirectory(Path.Combine(disk, $"loop5p{n}")).FullName;
            File.WriteAllText(Path.Combine(part, "dev"), $"259:{n}\n");
            File.WriteAllText(Path.Combine(part, "partition"), $"{n}\n");
            Directory.CreateDirectory(Path.Combine(part, "holders"));
        }
        foreach (var holder in holdersOfPartition2)
        {
            Directory.CreateDirectory(Path.Combine(disk, "loop5p2", "holders", holder));
        }
        var devBlock = Directory.CreateDirectory(Path.Combine(sys, "dev/block")).FullName;
        File.CreateSymbolicLink(Path.Combine(devBlock, "7:5"), "../../devices/virtual/block/loop5");
        File.CreateSymbolicLink(Path.Combine(devBlock, "259:1"), "../../devices/virtual/block/loop5/loop5p1");
        File.CreateSymbolicLink(Path.Combine(devBlock, "259:2"), "../../devices/virtual/block/loop5/loop5p2");
        return new LinuxPlatformIo(proc, sys);
    }

    private const string RootOnly = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";

    [Fact]
    public void FreeDisk_HasNoUses()
    {
        FakeSystem(RootOnly).FindUsesOfBlockDevice(new DeviceNumber(7, 5)).Should().BeEmpty();
    }

    [Fact]
    public void MountedPartition_IsAUseOfTheWholeDisk()
    {
        var io = FakeSystem(RootOnly + "40 22 259:1 / /mnt/my\\040stick rw - ext4 /dev/loop5p1 rw\n");
        io.FindUsesOfBlockDevice(new DeviceNumber(7, 5)).Should().ContainSingle()
            .Which.Should().Be(new DeviceUse("/dev/loop5p1", "mounted on /mnt/my stick"));
        io.FindUsesOfBlockDevice(new DeviceNumber(259, 1)).Should().ContainSingle();
    }

    [Fact]
    public void MountedWholeDisk_IsAUseOfItsPartitions()
    {
        var io = FakeSystem(RootOnly + "40 22 7:5 / /mnt rw - ext4 /dev/loop5 rw\n");
        io.FindUsesOfBlockDevice(new DeviceNumber(259, 2)).Should().ContainSingle()
            .Which.Description.Should().Be("mounted on /mnt");
    }

    [Fact]
    public void OtherPartitionMounted_DoesNotBlockThisPartition()
    {
        var io = FakeSystem(RootOnly + "40 22 259:1 / /mnt rw - ext4 /dev/loop5p1 rw\n");
        io.FindUsesOfBlockDevice(new DeviceNumber(259, 2)).Should().BeEmpty();
    }

    [Fact]
    public void DeviceMapperHolder_IsAUse()
    {
        var io = FakeSystem(RootOnly, "dm-0");
        io.FindUsesOfBlockDevice(new DeviceNumber(7, 5)).Should().ContainSingle()
            .Which.Description.Should().Contain("held by /dev/dm-0");
    }
}
