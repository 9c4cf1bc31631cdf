namespace ImageTools.TestSupport;

/// <summary>
/// One partition of a disk image as a file of its own, located by sfdisk (the judge of the table) and
/// copied by dd with holes kept, so that the reference tools that want a filesystem image (e2fsck,
/// debugfs, dumpe2fs, sha256sum) can check it.
/// </summary>
public static class DiskPartitions
{
    /// <summary>Copies partition <paramref name="number"/> of <paramref name="disk"/> to <paramref name="destination"/> and returns it.</summary>
    /// <param name="disk">The disk image.</param>
    /// <param name="number">The partition number as sfdisk numbers it.</param>
    /// <param name="destination">The file to write.</param>
    /// <param name="sectors">How many sectors to copy from the partition's start (default: all of it).</param>
    public static string Extract(string disk, int number, string destination, long? sectors = null)
    {
        var partition = Sfdisk.Json(disk).Partitions.Single(p => p.Number == number);
        var count = sectors ?? partition.Size;
        var r = ProcessRunner.Run("dd", $"if={disk}", $"of={destination}", "bs=512", $"skip={partition.Start}", $"count={count}", "conv=sparse", "status=none");
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"dd could not copy partition {number} of {disk}: {r}");
        }
        // dd conv=sparse leaves a trailing hole short; the file must have the partition's length.
        using (var f = new FileStream(destination, FileMode.Open, FileAccess.Write))
        {
            f.SetLength(count * 512);
        }
        return destination;
    }
}
