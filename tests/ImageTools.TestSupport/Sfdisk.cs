using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ImageTools.TestSupport;

/// <summary>One partition as <c>sfdisk -J</c> reports it.</summary>
public sealed record SfdiskPartition(int Number, long Start, long Size, string Type, bool Bootable, string? Uuid, string? Name);

/// <summary>A partition table as <c>sfdisk -J</c> reports it: the judge our partition code is compared with.</summary>
public sealed record SfdiskTable(string Label, string Id, IReadOnlyList<SfdiskPartition> Partitions, long? FirstLba, long? LastLba);

/// <summary>
/// Runs sfdisk (util-linux) on image files: makes tables from scripts, and reads them back as JSON, as a dump,
/// or as the warnings of <c>--verify</c>. Skips the calling test when sfdisk is not installed.
/// </summary>
public static class Sfdisk
{
    /// <summary>Writes the table a sfdisk script describes to <paramref name="image"/>; throws with sfdisk's output if it refuses.</summary>
    public static void Apply(string image, string script)
    {
        var sfdisk = ExternalTools.Require("sfdisk");
        using var input = new MemoryStream(Encoding.UTF8.GetBytes(script));
        var r = ProcessRunner.Run(sfdisk, new[] { "--no-reread", "--no-tell-kernel", "-q", image }, input);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"sfdisk refused the script:\n{script}\n{r}");
        }
    }

    /// <summary><c>sfdisk -J</c>, parsed. Partition numbers come from the device node names (image path + number).</summary>
    public static SfdiskTable Json(string image)
    {
        var r = ExternalTools.Run("sfdisk", "-J", image);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"sfdisk -J {image} failed:\n{r}");
        }
        // sfdisk may print notes such as "omitting empty partition (6)" on stdout before the JSON.
        using var doc = JsonDocument.Parse(r.StdOut[r.StdOut.IndexOf('{')..]);
        var table = doc.RootElement.GetProperty("partitiontable");
        var partitions = new List<SfdiskPartition>();
        if (table.TryGetProperty("partitions", out var list))
        {
            foreach (var p in list.EnumerateArray())
            {
                var node = p.GetProperty("node").GetString()!;
                partitions.Add(new SfdiskPartition(
                    int.Parse(node[image.Length..], CultureInfo.InvariantCulture),
                    p.GetProperty("start").GetInt64(),
                    p.GetProperty("size").GetInt64(),
                    p.GetProperty("type").GetString()!,
                    p.TryGetProperty("bootable", out var boot) && boot.GetBoolean(),
                    p.TryGetProperty("uuid", out var uuid) ? uuid.GetString() : null,
                    p.TryGetProperty("name", out var name) ? name.GetString() : null));
            }
        }
        return new SfdiskTable(
            table.GetProperty("label").GetString()!,
            table.GetProperty("id").GetString()!,
            partitions,
            table.TryGetProperty("firstlba", out var first) ? first.GetInt64() : null,
            table.TryGetProperty("lastlba", out var last) ? last.GetInt64() : null);
    }

    /// <summary><c>sfdisk --dump</c> with the device lines made independent of the image's path ("p1 : start=...").</summary>
    public static string Dump(string image)
    {
        var r = ExternalTools.Run("sfdisk", "--dump", image);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"sfdisk --dump {image} failed:\n{r}");
        }
        var lines = r.StdOut.Split('\n')
            .Where(l => !l.StartsWith("device:", StringComparison.Ordinal))
            .Select(l => l.StartsWith(image, StringComparison.Ordinal) ? "p" + l[image.Length..] : l);
        return string.Join('\n', lines);
    }

    /// <summary><c>sfdisk --verify</c>: its exit code and what it printed (warnings go to stderr).</summary>
    public static ProcessResult Verify(string image) => ExternalTools.Run("sfdisk", "--verify", image);
}
