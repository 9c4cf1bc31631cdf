using System.Diagnostics;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;
using static ImageTools.Cli.Tests.SparseCopy.SparseCopyRun;

namespace ImageTools.Cli.Tests.SparseCopy;

/// <summary>
/// DEST as a block device, through a loop device (root only): content, blank check on a used disk,
/// the kernel re-reading the partition table, and refusing a mounted device.
/// </summary>
public sealed class BlockDeviceTests : IDisposable
{
    private const long DiskSize = 64L << 20;
    private readonly TempDirectory _dir = new("sparsecopy-device-");

    public void Dispose() => _dir.Dispose();

    /// <summary>A sparse disk image with an MBR (two Linux partitions, made by sfdisk) and some data.</summary>
    private string PartitionedImage()
    {
        var image = SparseFiles.Create(_dir.File("disk.img"), DiskSize, [(2 << 20, 8192), (20 << 20, 4096), (DiskSize - 4096, 4096)]);
        var sfdisk = ExternalTools.Require("sfdisk");
        var r = ProcessRunner.Run("/bin/bash", ["-c", $"printf 'label: dos\\n2048,16MiB,L\\n,16MiB,L\\n' | {sfdisk} -q '{image}'"]);
        r.ExitCode.Should().Be(0, r.ToString());
        return image;
    }

    /// <summary>A loop device over a backing file full of random bytes: a used disk.</summary>
    private LoopDevice UsedDisk()
    {
        ExternalTools.RequireRoot("loop devices need root");
        var backing = SparseFiles.CreateRandom(_dir.File("backing.img"), DiskSize, seed: 77);
        return LoopDevice.Attach(backing, partitionScan: true);
    }

    private static string DeviceSha256(LoopDevice device)
    {
        var r = ProcessRunner.Run("/bin/bash", "-c", $"sha256sum < {device.Path}");
        r.ExitCode.Should().Be(0, r.ToString());
        return r.StdOut.Split(' ')[0];
    }

    /// <summary>
    /// Skips unless this kernel shows the partitions of an MBR disk (some VM kernels are built without
    /// CONFIG_MSDOS_PARTITION: BLKRRPART then succeeds but no partition ever appears).
    /// </summary>
    private static void RequireKernelPartitionSupport(string partitionedImage)
    {
        using var probe = LoopDevice.Attach(partitionedImage, partitionScan: true);
        for (var i = 0; i < 20 && !probe.KernelSeesPartition(1); i++)
        {
            Thread.Sleep(50);
        }
        if (!probe.KernelSeesPartition(1))
        {
            Assert.Skip("this kernel does not read MBR partition tables (CONFIG_MSDOS_PARTITION unset): a loop device over a partitioned image shows no partitions, so the effect of the re-read cannot be observed");
        }
    }

    /// <summary>
    /// Makes sure the kernel shows the partitions of the table now on <paramref name="device"/>: where its own
    /// MBR parser is missing (see <see cref="RequireKernelPartitionSupport"/>), partx reads the table in user space
    /// and adds them (BLKPG), as it would on such a system. For tests about partitions in use, not about the re-read.
    /// </summary>
    private static void ShowPartitionsToKernel(LoopDevice device)
    {
        if (!device.KernelSeesPartition(1))
        {
            var partx = ExternalTools.Require("partx");
            var r = ProcessRunner.Run(partx, "--add", device.Path);
            r.ExitCode.Should().Be(0, r.ToString());
        }
        for (var i = 0; i < 40 && !File.Exists(device.PartitionPath(1)); i++)
        {
            Thread.Sleep(50);
        }
        device.KernelSeesPartition(1).Should().BeTrue();
        File.Exists(device.PartitionPath(1)).Should().BeTrue($"{device.PartitionPath(1)} should appear once the kernel knows the partition");
    }

    [Fact]
    public void CopyToAUsedDisk_ContentEqual_PartitionTableReread()
    {
        var image = PartitionedImage();
        using var device = UsedDisk();

        var summary = Json(image, device.Path);

        DeviceSha256(device).Should().Be(FileFacts.Sha256(image), "zeros of the image must read back as zeros on the used disk");
        summary.GetProperty("partitionTableReread").GetString().Should().Be("done", "the device was still open when BLKRRPART was issued");
        summary.GetProperty("totalBytes").GetInt64().Should().Be(DiskSize);
    }

    [Fact]
    public void CopyToAUsedDisk_KernelSeesTheNewPartitions()
    {
        var image = PartitionedImage();
        RequireKernelPartitionSupport(image);
        using var device = UsedDisk();
        device.KernelSeesPartition(1).Should().BeFalse("random bytes hold no partition table");

        var r = Run(image, device.Path);

        r.ExitCode.Should().Be(0, r.ToString());
        device.KernelSeesPartition(1).Should().BeTrue();
        device.KernelSeesPartition(2).Should().BeTrue();
    }

    /// <summary>
    /// Observable on any kernel, with or without an MBR parser: a partition the kernel knows of but the new
    /// table lacks (added by hand with BLKPG through addpart) is gone after the copy only if the kernel re-read
    /// the table; without BLKRRPART it would stay until the next reboot.
    /// </summary>
    [Fact]
    public void CopyToAUsedDisk_KernelForgetsAPartitionTheNewTableLacks()
    {
        var image = PartitionedImage();
        using var device = UsedDisk();
        var addpart = ExternalTools.Require("addpart");
        var add = ProcessRunner.Run(addpart, device.Path, "3", "102400", "8192");
        add.ExitCode.Should().Be(0, add.ToString());
        device.KernelSeesPartition(3).Should().BeTrue("addpart told the kernel about partition 3");

        var r = Run(image, device.Path);

        r.ExitCode.Should().Be(0, r.ToString());
        device.KernelSeesPartition(3).Should().BeFalse("the image's table has two partitions, and the kernel re-read it");
    }

    [Fact]
    public void ReadBackBlankCheck_OnADevice_WritesZerosWhereNeeded()
    {
        var image = PartitionedImage();
        using var device = UsedDisk();
        var r = Run("--blank-check", "readback", image, device.Path);
        r.ExitCode.Should().Be(0, r.ToString());
        DeviceSha256(device).Should().Be(FileFacts.Sha256(image));
        FinalLine(r).NonZeroDest.Should().BeGreaterThan(60L << 20);
    }

    [Fact]
    public void NoCheck_OnADevice_LeavesStaleData()
    {
        var image = PartitionedImage();
        using var device = UsedDisk();
        var r = Run("-n", image, device.Path);
        r.ExitCode.Should().Be(0, r.ToString());
        DeviceSha256(device).Should().NotBe(FileFacts.Sha256(image));
        var stale = SparseFiles.ReadRange(_dir.File("backing.img"), 30 << 20, 4096);
        stale.Should().NotBeEquivalentTo(new byte[4096], "where the image has a hole, the old random bytes remain");
        SparseFiles.ReadRange(_dir.File("backing.img"), 2 << 20, 8192).Should().Equal(SparseFiles.ReadRange(image, 2 << 20, 8192));
    }

    [Fact]
    public void SourceLargerThanDevice_FailsBeforeWriting()
    {
        using var device = UsedDisk();
        var before = DeviceSha256(device);
        var image = SparseFiles.Create(_dir.File("big.img"), DiskSize * 2, [(0, 4096)]);
        var r = Run(image, device.Path);
        r.ExitCode.Should().Be(18, r.ToString());
        r.StdErr.Should().Contain(device.Path).And.Contain("does not fit").And.Contain("nothing was written");
        DeviceSha256(device).Should().Be(before);
    }

    [Fact]
    public void PipeLargerThanDevice_FailsWhenFull_SayingHowMuchWasWritten()
    {
        using var device = UsedDisk();
        var r = RunWithStdin(new MemoryStream(SparseFiles.RandomBytes(new Random(3), (int)DiskSize + (1 << 20))), "-", device.Path);
        r.ExitCode.Should().Be(9, r.ToString());
        r.StdErr.Should().Contain(device.Path).And.Contain($"{DiskSize} bytes were written");
    }

    [Fact]
    public void MountedDevice_Refused_NothingWritten()
    {
        using var device = UsedDisk();
        ExternalTools.Run("mkfs.ext4", "-q", "-F", device.Path).ExitCode.Should().Be(0);
        var mountPoint = Directory.CreateDirectory(_dir.File("mnt")).FullName;
        var mount = ProcessRunner.Run("mount", device.Path, mountPoint);
        mount.ExitCode.Should().Be(0, mount.ToString());
        try
        {
            var other = SparseFiles.CreateRandom(_dir.File("other.img"), 1 << 20);

            var r = Run(other, device.Path);

            r.ExitCode.Should().Be(13, r.ToString());
            r.StdErr.Should().Contain(device.Path).And.Contain($"mounted on {mountPoint}").And.Contain("unmount");
            // The mounted file system may write to its device by itself, so look for our bytes instead of a hash.
            SparseFiles.ReadRange(device.Path, 0, 1 << 20).Should().NotEqual(File.ReadAllBytes(other), "nothing may be written to a mounted disk");
        }
        finally
        {
            ProcessRunner.Run("umount", mountPoint);
        }
    }

    [Fact]
    public void MountedPartition_Refused_ForTheDiskAndThePartition()
    {
        var image = PartitionedImage();
        using var device = UsedDisk();
        Run("-q", image, device.Path).ExitCode.Should().Be(0);
        ShowPartitionsToKernel(device);
        ExternalTools.Run("mkfs.ext4", "-q", "-F", device.PartitionPath(1)).ExitCode.Should().Be(0);
        var mountPoint = Directory.CreateDirectory(_dir.File("mnt")).FullName;
        var mount = ProcessRunner.Run("mount", device.PartitionPath(1), mountPoint);
        mount.ExitCode.Should().Be(0, mount.ToString());
        try
        {
            var other = SparseFiles.CreateRandom(_dir.File("other.img"), 1 << 20);

            var whole = Run(other, device.Path);
            whole.ExitCode.Should().Be(13, whole.ToString());
            whole.StdErr.Should().Contain(device.PartitionPath(1)).And.Contain($"mounted on {mountPoint}");

            var partition = Run(other, device.PartitionPath(1));
            partition.ExitCode.Should().Be(13, partition.ToString());

            SparseFiles.ReadRange(device.Path, 0, 1 << 20).Should().NotEqual(File.ReadAllBytes(other), "nothing may be written to a mounted disk");
        }
        finally
        {
            ProcessRunner.Run("umount", mountPoint);
        }
    }

    [Fact]
    public void PartitionHeldOpen_RereadStaysBusy_AndSparsecopySaysSo()
    {
        var image = PartitionedImage();
        using var device = UsedDisk();
        Run("-q", image, device.Path).ExitCode.Should().Be(0);
        ShowPartitionsToKernel(device);

        // Another program keeps partition 1 open (not exclusively): the copy may go on, the re-read cannot.
        using var holder = Process.Start(new ProcessStartInfo("/bin/bash", ["-c", $"exec sleep 120 < {device.PartitionPath(1)}"]))!;
        try
        {
            Thread.Sleep(300);
            var r = Run(image, device.Path);
            r.ExitCode.Should().Be(0, r.ToString());
            r.StdErr.Should().Contain("could not re-read the partition table");
            FinalLine(r).Total.Should().Be(DiskSize);
        }
        finally
        {
            holder.Kill();
            holder.WaitForExit();
        }
    }
}
