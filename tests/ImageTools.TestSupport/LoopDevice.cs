using Xunit;

namespace ImageTools.TestSupport;

/// <summary>
/// A loop device over an image file, for the block-device tests (root only; skips, saying why, elsewhere).
/// Detached on dispose.
/// </summary>
public sealed class LoopDevice : IDisposable
{
    private LoopDevice(string path)
    {
        Path = path;
    }

    /// <summary>The device node, e.g. /dev/loop3.</summary>
    public string Path { get; }

    /// <summary>The kernel's name, e.g. loop3.</summary>
    public string Name => System.IO.Path.GetFileName(Path);

    /// <summary>The node of partition <paramref name="number"/>, e.g. /dev/loop3p1.</summary>
    public string PartitionPath(int number) => $"{Path}p{number}";

    /// <summary>True when the kernel currently shows partition <paramref name="number"/> of this device.</summary>
    public bool KernelSeesPartition(int number) => Directory.Exists($"/sys/block/{Name}/{Name}p{number}");

    /// <summary>Attaches <paramref name="imageFile"/>; with <paramref name="partitionScan"/> the kernel reads its partition table.</summary>
    public static LoopDevice Attach(string imageFile, bool partitionScan = true)
    {
        ExternalTools.RequireRoot("loop devices need root");
        var losetup = ExternalTools.Require("losetup");
        var args = new List<string> { "--find", "--show" };
        if (partitionScan)
        {
            args.Add("--partscan");
        }
        args.Add(imageFile);
        var r = ProcessRunner.Run(losetup, args);
        if (r.ExitCode != 0)
        {
            Assert.Skip($"cannot attach a loop device here (container without /dev/loop*?): {r.StdErr.Trim()}");
        }
        return new LoopDevice(r.StdOut.Trim());
    }

    public void Dispose()
    {
        var losetup = ExternalTools.Find("losetup");
        if (losetup != null)
        {
            ProcessRunner.Run(losetup, "-d", Path);
        }
    }
}
